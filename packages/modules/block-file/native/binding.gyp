{
  "targets": [
    {
      "target_name": "ofd_lock",
      "sources": ["ofd-lock.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
