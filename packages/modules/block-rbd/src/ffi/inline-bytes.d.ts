// `import x from 'file?base64'` (tools/build/vite-inline-bytes.mjs): the file's bytes, base64, compiled into the bundle.
declare module '*?base64' {
  const base64: string;
  export default base64;
}
