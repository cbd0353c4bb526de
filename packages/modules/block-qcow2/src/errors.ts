/** An image that breaks the qcow2 rules: named, with what is wrong, never a crash or a huge allocation. */
export function corrupt(filename: string, what: string): Error {
  return new Error(`Could not open '${filename}': qcow2 image is corrupt: ${what}`);
}
