/**
 * The block layer's contract with its drivers. A protocol driver opens storage (a local file,
 * an http(s) URL) as a byte-addressed BlockNode; a format driver (raw, qcow2) opens a BlockNode
 * and presents the guest-visible disk as another BlockNode.
 */

/** Allocation status of a byte range, as qemu-img map reports it. */
export interface BlockStatus {
  /** Bytes from the queried offset that share this status (at least 1, at most the query). */
  readonly length: number;
  /** The range reads as zeroes. */
  readonly zero: boolean;
  /** The range holds data in this node (as opposed to a hole or backing file). */
  readonly data: boolean;
  /** Offset in the underlying file, when the mapping is direct. */
  readonly offset?: number;
  /** The range is allocated in this node itself (data, or zeroes it records), not left to a backing file. */
  readonly allocated?: boolean;
  /** The file holding the range's bytes at `offset`. */
  readonly file?: string;
}

export interface BlockNode {
  /** Driver name as qemu-img prints it (`file`, `raw`, `http`). */
  readonly driver: string;
  /** The name it was opened by (a path or a URL). */
  readonly filename: string;
  /** Size in bytes (the virtual size for a format node). */
  readonly size: number;
  readonly readOnly: boolean;
  /** The node below a format node (its protocol node). */
  readonly child?: BlockNode;
  /** The backing image, whose bytes show through where this one has none allocated. */
  readonly backing?: BlockNode;
  /** Fill `into` with the bytes at `offset`; reading past the end is an error. */
  read(offset: number, into: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Bytes the node occupies on its storage, when the storage can tell (qemu-img's "disk size"). */
  allocatedSize?(): Promise<number | undefined>;
  /** Status of the range starting at `offset`, at most `length` bytes long. */
  blockStatus?(offset: number, length: number): Promise<BlockStatus>;
  /** Format details for `info` (cluster size, backing file, format-specific fields). */
  describe?(): ImageDescription;
}

/** What `qemu-img info` shows of a format beyond sizes. */
export interface ImageDescription {
  readonly clusterSize?: number;
  /** The backing file name as the image records it. */
  readonly backingFile?: string;
  readonly backingFormat?: string;
  readonly dirty?: boolean;
  /** Internal snapshots, oldest first. */
  readonly snapshots?: readonly SnapshotInfo[];
  /** qemu-img's `format-specific` object: `{type, data}` with qemu's key names. */
  readonly formatSpecific?: { readonly type: string; readonly data: Readonly<Record<string, unknown>> };
}

/** One internal snapshot, as `qemu-img snapshot -l` lists it. */
export interface SnapshotInfo {
  readonly id: string;
  readonly name: string;
  readonly vmStateSize: number;
  readonly dateSec: number;
  readonly dateNsec: number;
  readonly vmClockNsec: number;
  /** Instruction count at the snapshot, when recorded. */
  readonly icount?: number;
}

/** How a format driver opens another image that its image names (a backing file, a data file). */
export type OpenRelative = (
  name: string,
  options: { readonly format?: string; readonly readOnly: boolean; readonly protocolOnly?: boolean },
) => Promise<BlockNode>;

/** Options given to a driver: fixed flags plus the driver-specific `key=value` options. */
export interface BlockOpenOptions {
  readonly readOnly: boolean;
  /** Driver options (`--image-opts file.sslverify=off`, …), already split from their prefix. */
  readonly driverOptions: Readonly<Record<string, string>>;
  /** Given to format drivers: open an image named relative to this one. */
  readonly openRelative?: OpenRelative;
}

export interface BlockCreateOptions {
  readonly size: number;
  /** `-o key=value` options of `create`. */
  readonly formatOptions: Readonly<Record<string, string>>;
}

export interface BlockProtocolDriver {
  readonly name: string;
  /** URL schemes it serves (`http`, `https`); the protocol for plain paths has none. */
  readonly schemes: readonly string[];
  /** Driver options this protocol understands (others are rejected before opening). */
  readonly options?: readonly string[];
  open(location: string, options: BlockOpenOptions): Promise<BlockNode>;
  /** Create empty storage of `size` bytes (truncating what was there). */
  create?(location: string, size: number): Promise<void>;
}

export interface BlockFormatDriver {
  readonly name: string;
  /** How sure the driver is that `head` (the first bytes of the file) is its format: 0–100. */
  probe?(head: Uint8Array, filename: string): number;
  open(file: BlockNode, options: BlockOpenOptions): Promise<BlockNode>;
  /** Lay the format's metadata onto freshly created storage. */
  create?(file: BlockNode, options: BlockCreateOptions): Promise<void>;
  /** `-o` options `create` accepts. */
  readonly createOptions?: readonly string[];
}

/** What the block subsystem hands to a module's block init functions. */
export interface BlockRegistrar {
  registerProtocol(driver: BlockProtocolDriver): void;
  registerFormat(driver: BlockFormatDriver): void;
}
