// The driver's coded errors: the shapes every format module shares, from the module kit (bundled in).
export { codedError } from '@tessera/module-kit/coded-error';
export { corrupt, unsupported } from '@tessera/module-kit/format/open-errors';
