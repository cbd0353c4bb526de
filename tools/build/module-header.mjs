// The first line of every loadable module file (parsed by packages/core/src/module/header.ts).
export function moduleHeader(name, stamp) {
  return `/*! tessera-module name=${name} stamp=${stamp} */`;
}
