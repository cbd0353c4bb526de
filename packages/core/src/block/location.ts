/** The protocol a location names: its URL scheme (`http://…` → `http`), or `file` for a path. */
export function protocolOf(location: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(location);
  return match ? match[1]!.toLowerCase() : 'file';
}
