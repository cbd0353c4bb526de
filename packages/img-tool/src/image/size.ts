// Sizes are parsed by core's block layer (its option values are sizes too): one parser for both.
export { MAX_SIZE, parseSize, type SizeParse } from '@tessera/core';
