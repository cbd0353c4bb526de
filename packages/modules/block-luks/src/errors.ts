// Coded errors (core's contract), from the module kit (bundled in).
export { codedError } from '@tessera/module-kit/coded-error';
