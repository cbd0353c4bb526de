/** `-o` options of `create`: none, qemu-img cannot create cloop images (read-only format). */
export const CREATE_OPTIONS: readonly { name: string; type: 'size' | 'str' | 'num' | 'bool'; description: string; default?: string }[] = [];
