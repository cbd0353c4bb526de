// How a CommonJS executable's program is compiled: through vm.Script, inside the function wrapper
// Node gives a CommonJS file plus one parameter, IMPORT. The launcher and the code-cache warm-up
// both compile it with these exact strings: V8 accepts a code cache only for the source it was
// made from.
//
// IMPORT stands for import(): the build rewrites the program's dynamic imports (lazily loaded
// builtins) into calls of it, and the caller passes a function
// that imports from its own file. Node 20 loses a vm.Script's import() callback when the script
// comes from a code cache made in another process ("A dynamic import callback was not
// specified"); the caller's import() is Node's own.
'use strict';

const IMPORT = '__tesseraImport';
const PREFIX = `(function (exports, require, module, __filename, __dirname, ${IMPORT}) {`;
const SUFFIX = '\n})';

module.exports = { IMPORT, PREFIX, SUFFIX };
