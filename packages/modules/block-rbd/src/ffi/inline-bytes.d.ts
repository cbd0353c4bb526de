// `import x from 'pkg/file?bytes'` (tools/build/vite-bytes.mjs): the file's bytes, base64, compiled into the bundle.
declare module '*?bytes' {
  const base64: string;
  export default base64;
}

// The same, brotli-compressed before base64 (decompress with node:zlib).
declare module '*?brotli-bytes' {
  const base64: string;
  export default base64;
}

// The file's sha256 (hex) and size, to check a copy of it kept outside the bundle.
declare module '*?digest' {
  const digest: { readonly sha256: string; readonly size: number };
  export default digest;
}
