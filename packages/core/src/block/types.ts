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

/** QEMU's block permissions that image locks enforce, named as its messages name them. */
export type BlockPermission = 'consistent read' | 'write' | 'write unchanged' | 'resize';

/**
 * What an opener of storage does with it (`use`) and what it forbids every other opener meanwhile
 * (`unshare`): QEMU's perm and the complement of its shared perm, which the file protocol turns
 * into QEMU's image locks.
 */
export interface BlockPermissions {
  readonly use: readonly BlockPermission[];
  readonly unshare: readonly BlockPermission[];
}

export interface BlockNode {
  /** Driver name as qemu-img prints it (`file`, `raw`, `http`). */
  readonly driver: string;
  /** The name it was opened by (a path or a URL). */
  readonly filename: string;
  /**
   * What the storage is, whatever name it was opened by (a file's device and inode); the block
   * layer tells a backing chain that loops by it. Absent: the filename (a URL) is taken.
   */
  readonly identity?: string;
  /** Size in bytes (the virtual size for a format node). */
  readonly size: number;
  readonly readOnly: boolean;
  /** The node below a format node (its protocol node). */
  readonly child?: BlockNode;
  /** The backing image, whose bytes show through where this one has none allocated. */
  readonly backing?: BlockNode;
  /**
   * The format was probed, not named (a raw image then refuses writes that would make it look
   * like another format): reopen it with no format named to keep that guard.
   */
  readonly probed?: boolean;
  /** Fill `into` with the bytes at `offset`; reading past the end is an error. */
  read(offset: number, into: Uint8Array): Promise<void>;
  /** Store `data` (zeroes included: a write of zero bytes allocates, as in qemu without detect-zeroes). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Make a range read as zeroes without writing data, as qemu's write-zeroes: a qcow2 v3 image
   * records zero clusters, a file may leave holes. Optional: the block layer's `writeZeroes`
   * writes zero buffers through `write` for nodes without it.
   */
  writeZeroes?(offset: number, length: number, options: WriteZeroesOptions): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Bytes the node occupies on its storage, when the storage can tell (qemu-img's "disk size"). */
  allocatedSize?(): Promise<number | undefined>;
  /** Status of the range starting at `offset`, at most `length` bytes long. */
  blockStatus?(offset: number, length: number): Promise<BlockStatus>;
  /** Format details for `info` (cluster size, backing file, format-specific fields). */
  describe?(): ImageDescription;
  /**
   * The unit this node allocates whole: data written anywhere in a unit stores the whole unit (its
   * unwritten bytes zero) and maps it as data, so a writer may fill the zero gaps inside units it
   * writes anyway and nothing a reader sees changes (convert joins a fragmented disk's runs so).
   * Absent or undefined where partial writes map on their own (subclusters), allocate in a file
   * (raw, an external data file) or let a backing file show through.
   */
  allocationUnit?(): number | undefined;

  // Maintenance operations (qemu-img's subcommands). Optional: a command checks for the one it
  // needs and reports "does not support" for nodes without it.

  /** Change the size: the virtual size of a format node, the length of a file. */
  resize?(size: number, options: ResizeOptions): Promise<void>;
  /** Store one whole guest cluster compressed (`convert -c`); `offset` is cluster aligned. */
  writeCompressed?(offset: number, data: Uint8Array): Promise<void>;
  /** Internal snapshots: create, apply (revert to), delete. */
  readonly internalSnapshots?: InternalSnapshots;
  /** Persistent dirty bitmaps (qcow2): `qemu-img bitmap`'s operations, one at a time. */
  readonly persistentBitmaps?: PersistentBitmaps;
  /** Record another backing file (or none) without touching data (`rebase -u`). */
  setBacking?(file: string | undefined, format: string | undefined): Promise<void>;
  /** Drop everything allocated in this node, so it reads through to its backing file (`commit`). */
  makeEmpty?(): Promise<void>;
  /** Check metadata consistency, repairing what `repair` allows (`check`). */
  check?(repair: CheckRepair): Promise<CheckResult>;
  /** Change format options in place (`amend`): the same `-o` keys as creation (or the driver's `amendOptions`). */
  amend?(options: Readonly<Record<string, string>>, settings?: AmendSettings): Promise<void>;
  /** Storage that locks (the file protocol): hold the locks for these permissions instead; throws on a conflict. */
  setPermissions?(permissions: BlockPermissions): Promise<void>;
}

export interface WriteZeroesOptions {
  /** The range may be deallocated (qemu's BDRV_REQ_MAY_UNMAP): a zero cluster gives its host cluster back. */
  readonly mayUnmap: boolean;
}

export interface ResizeOptions {
  /** Shrinking is refused unless asked for (data past the new end is lost). */
  readonly shrink: boolean;
  /** `off`, `metadata`, `falloc`, `full`: how the grown part is allocated. */
  readonly preallocation?: string;
}

export interface InternalSnapshots {
  create(name: string): Promise<void>;
  /** Make the image's content the snapshot's again (the snapshot stays). */
  apply(nameOrId: string): Promise<void>;
  delete(nameOrId: string): Promise<void>;
  /**
   * The snapshot's disk as a read-only node (qemu's temporarily loaded snapshot, `convert -l`),
   * valid while the image is open; closing it closes nothing.
   */
  view?(selector: SnapshotSelector): Promise<BlockNode>;
}

/** Which snapshot: by id and/or name (`snapshot.id=…,snapshot.name=…`), or a word that is an id or else a name. */
export type SnapshotSelector = { readonly id?: string; readonly name?: string } | { readonly idOrName: string };

/** `none` only reports; `leaks` also frees leaked clusters; `all` also fixes refcount errors. */
export type CheckRepair = 'none' | 'leaks' | 'all';

/** What `qemu-img check` reports (its JSON field names in comments). */
export interface CheckResult {
  /** `corruptions`: refcounts lower than the references (or references that cannot be right). */
  readonly corruptions: number;
  /** `leaks`: clusters counted but not referenced. */
  readonly leaks: number;
  /** `check-errors`: failures of the check itself (I/O errors). */
  readonly checkErrors: number;
  readonly corruptionsFixed: number;
  readonly leaksFixed: number;
  /** `image-end-offset`: the end of the last used host cluster. */
  readonly imageEndOffset?: number;
  readonly totalClusters?: number;
  readonly allocatedClusters?: number;
  readonly fragmentedClusters?: number;
  readonly compressedClusters?: number;
  /** Human-readable findings, printed before the summary (qemu's "Leaked cluster 5 refcount=1 reference=0"). */
  readonly messages: readonly string[];
}

/** What `qemu-img measure` prints: bytes an image of given size and content needs. */
export interface MeasureResult {
  readonly required: number;
  readonly fullyAllocated: number;
  /** Bytes the source's persistent bitmaps need, when both formats can hold bitmaps (qemu-img prints it then). */
  readonly bitmaps?: number;
}

/** What `qemu-img info` shows of a format beyond sizes. */
export interface ImageDescription {
  readonly clusterSize?: number;
  /** The backing file name as the image records it. */
  readonly backingFile?: string;
  readonly backingFormat?: string;
  readonly dirty?: boolean;
  /** The guest data is encrypted (luks): `info` says `encrypted: yes`. */
  readonly encrypted?: boolean;
  /**
   * The format reports no driver information (qemu's parallels has no bdrv_get_info): `info`
   * then shows neither a cluster size nor a dirty flag.
   */
  readonly noDriverInfo?: boolean;
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

/**
 * An object the command line defined with `--object qom-type,id=ID,…` (TLS credentials, secrets),
 * which driver options name by id (`tls-creds=ID`). Properties as given, unparsed.
 */
export interface UserObject {
  readonly qomType: string;
  readonly id: string;
  readonly properties: Readonly<Record<string, string>>;
}

/** Options given to a driver: fixed flags plus the driver-specific `key=value` options. */
export interface BlockOpenOptions {
  readonly readOnly: boolean;
  /** Given to protocol drivers: the image locks to take (default: read, plus write unless read-only; unshare nothing). */
  readonly permissions?: BlockPermissions;
  /** Driver options (`--image-opts file.sslverify=off`, …), already split from their prefix. */
  readonly driverOptions: Readonly<Record<string, string>>;
  /** The `--object`s defined, by id, for options that name one. */
  readonly objects?: ReadonlyMap<string, UserObject>;
  /** Given to format drivers: open an image named relative to this one. */
  readonly openRelative?: OpenRelative;
  /**
   * Given to format drivers: qemu's cache=unsafe. The storage's flushes already do nothing; the
   * driver may also keep metadata changes in memory until its own flush or close.
   */
  readonly cacheUnsafe?: boolean;
  /**
   * Given to format drivers: opened to be repaired (`check -r`). A driver may then accept for
   * writing what it refuses otherwise, such as an image marked corrupt, as qemu's BDRV_O_CHECK.
   */
  readonly forRepair?: boolean;
  /**
   * Given to format drivers: the caller reads only metadata (qemu's BDRV_O_NO_IO, `info`): a
   * driver may skip what only data access needs, such as unlocking an encrypted image's key.
   */
  readonly metadataOnly?: boolean;
  /** The user's secrets (`--object secret,id=…`), asked for by id (a LUKS passphrase). */
  readonly secrets?: BlockSecrets;
  /**
   * Given to format drivers: opened to change persistent bitmaps (`bitmap`) and nothing else. A
   * driver may then open for writing an image it refuses otherwise (one with bitmaps its guest
   * writes would not keep correct).
   */
  readonly forBitmaps?: boolean;
}

/**
 * QEMU's secret objects as drivers see them: a driver asks for a secret by the id an option of
 * its names (`key-secret=sec0`) and gets its bytes, or a coded error with qemu's "No secret with
 * id 'sec0'". The values never go into messages or `info`.
 */
export interface BlockSecrets {
  secret(id: string): Uint8Array;
}

export interface BlockCreateOptions {
  readonly size: number;
  /**
   * `-o key=value` options of `create`, checked against the driver's `createOptions` by core
   * (unknown keys refused, sizes and numbers as decimal byte counts, booleans as given).
   */
  readonly formatOptions: Readonly<Record<string, string>>;
  /**
   * Create another file the image names (an external data file) as an empty raw image of `size`
   * bytes, `name` relative to the image being created (QEMU's bdrv_co_create_file of the name).
   */
  readonly createRelative?: (name: string, size: number) => Promise<void>;
  /**
   * Open an image named relative to the one being created: its backing file, read-only (vmdk
   * records its parent's CID), or with `protocolOnly` a file `createRelative` made (an extent,
   * to lay out its metadata). The driver closes what it opens.
   */
  readonly openRelative?: OpenRelative;
  /** The user's secrets (`--object secret,id=…`): a LUKS image's passphrase. */
  readonly secrets?: BlockSecrets;
}

/** Value kind of a driver option (`-o help` shows `bool` as `bool (on/off)`). */
export type BlockOptionType = 'size' | 'str' | 'num' | 'bool';

/**
 * One option a driver takes: `-o name=value` of create and amend, `--image-opts` keys of open.
 * Core checks values once, with qemu-img's messages: `size` as qemu-img reads sizes (`64k`),
 * handed to the driver as a decimal byte count; `num` as a C integer (decimal, `0x` hex,
 * leading-`0` octal), handed over in decimal; `bool` one of on/off/yes/no/true/false, handed over
 * as given; `str` as given.
 */
export interface BlockOptionSpec {
  readonly name: string;
  readonly type: BlockOptionType;
  /** Help text, as `-o help` prints it after the name. */
  readonly description?: string;
  /** The value the driver uses when the option is not given (booleans print as on/off). */
  readonly default?: string | number | boolean;
  /**
   * Create's "Formatting …" line shows the default when the option is not given, as qemu-img
   * does for the options whose QemuOpts carry a default (qcow2's cluster_size, for one).
   */
  readonly printDefault?: boolean;
  /**
   * An open option that changes what the image shows (raw's offset and size): a filename alone no
   * longer names the image opened with it, so `info` prints qemu's `json:{…}` pseudo-filename.
   */
  readonly strong?: boolean;
}

/**
 * What a format can hold, declared by its driver so that tools need not know formats by name
 * (qemu-img asks the same of its BlockDriver: bdrv_supports_*, supports_backing, …).
 */
export interface BlockFormatCapabilities {
  /** Images of the format can have a backing file (`-b`, `backing_file`). */
  readonly backingFile?: boolean;
  /** Clusters can be stored compressed (`convert -c`). */
  readonly compression?: boolean;
  /** The format holds internal snapshots. */
  readonly internalSnapshots?: boolean;
  /** The format holds persistent dirty bitmaps. */
  readonly bitmaps?: boolean;
  /**
   * Guest bytes are the storage's bytes at the same offsets, with no metadata (raw): a target
   * opened without creating keeps holes the copy leaves, and past a short file's end the status
   * is the file's trailing hole.
   */
  readonly directMapping?: boolean;
  /**
   * A freshly created image does not read as zeroes (luks: its unwritten payload decrypts to
   * noise), qemu's bdrv_has_zero_init false: a copy onto it writes its zero runs too.
   */
  readonly createdNotZero?: boolean;
}

export interface BlockProtocolDriver {
  readonly name: string;
  /** URL schemes it serves (`http`, `https`); the protocol for plain paths has none. */
  readonly schemes: readonly string[];
  /** Driver options this protocol understands (others are rejected before opening). */
  readonly options?: readonly string[];
  /**
   * Its options alone can name the storage (qemu's `server.host`, `portal`, `path`, …): `open` is
   * then called with location '' and finds the storage in `driverOptions`.
   */
  readonly addressedByOptions?: boolean;
  open(location: string, options: BlockOpenOptions): Promise<BlockNode>;
  /**
   * The identity a node opened from `location` would have (BlockNode.identity), found without
   * opening it (so without taking its locks); undefined when it cannot be told.
   */
  identify?(location: string): Promise<string | undefined>;
  /** Create empty storage of `size` bytes (truncating what was there). */
  create?(location: string, size: number): Promise<void>;
  /**
   * `-o` options creating storage of this protocol takes, for formats that leave them to it
   * (listed by `create -o help` when the target is named; the tool applies them).
   */
  readonly createOptions?: readonly BlockOptionSpec[];
}

export interface BlockFormatDriver {
  readonly name: string;
  open(file: BlockNode, options: BlockOpenOptions): Promise<BlockNode>;
  /** What the format can hold (absent: nothing beyond data). */
  readonly capabilities?: BlockFormatCapabilities;
  /** Lay the format's metadata onto freshly created storage. */
  create?(file: BlockNode, options: BlockCreateOptions): Promise<void>;
  /**
   * Refuse `create`'s options before any storage is created or truncated (a LUKS image's missing
   * secret), so a refused creation leaves no file behind and an existing file untouched.
   */
  checkCreate?(options: BlockCreateOptions): void;
  /**
   * `-o` options `create` accepts, in the order create's "Formatting …" line prints them.
   * `size` may be declared to place it in that line; otherwise core adds it first.
   */
  readonly createOptions?: readonly BlockOptionSpec[];
  /**
   * `-o` options `amend` accepts (BlockNode.amend gets them checked as create's are); creation
   * options not listed here are refused as "only supported for image creation".
   */
  readonly amendOptions?: readonly BlockOptionSpec[];
  /** Format options of open (`--image-opts` keys beside `driver` and `file.*`). */
  readonly openOptions?: readonly BlockOptionSpec[];
  /**
   * Bytes a new image of `size` with these `-o` options (checked as create's) needs: `required`
   * for the data `source` holds (none when absent), `fullyAllocated` with every cluster allocated.
   */
  measure?(size: number, formatOptions: Readonly<Record<string, string>>, source?: BlockNode): Promise<MeasureResult>;
  /**
   * The guest bytes `node` (opened by this driver) reports block status for in one piece at
   * most, from a multiple of it (qcow2: what one L2 table maps): qemu's status runs never cross
   * it, so a caller merging runs stops there. Absent or undefined: no such limit.
   */
  statusGranularity?(node: BlockNode): number | undefined;
}

/**
 * A compression codec a format driver uses for its compressed clusters (qcow2's zstd), provided by
 * its own module (`block-codec:<name>`) so that it loads only when an image needs it.
 */
export interface BlockCodec {
  readonly name: string;
  /** `data` compressed as one self-contained stream. */
  compress(data: Uint8Array): Promise<Uint8Array>;
  /**
   * Exactly `size` bytes decompressed from the stream at the start of `data` (bytes after the
   * stream's end are ignored); throws when the stream is corrupt or holds another length.
   */
  decompress(data: Uint8Array, size: number): Promise<Uint8Array>;
}

/**
 * Encryption a format driver keeps inside its images (qcow2's `encrypt.format=luks`), provided by
 * its own module (`block-crypto:<name>`) so that it loads only when an encrypted image is opened
 * or created. Option names are qemu's without the format's prefix (`key-secret`, `cipher-alg`);
 * the format declares them (prefixed) in its own option tables, so `-o help` loads nothing.
 */
export interface BlockCrypto {
  readonly name: string;
  /** Refuse create options (a missing or unknown secret, a suite not supported) before anything is written. */
  checkCreate(settings: BlockCryptoSettings): void;
  /** Bytes of the header `create` writes for these options (0: none, as qcow2's legacy aes). */
  headerSize(settings: BlockCryptoSettings): number;
  /** Write a new header (key slots included) to `header`, storage of `headerSize` bytes. */
  create(header: BlockNode | undefined, settings: BlockCryptoSettings): Promise<void>;
  /** Read the header and, unless `metadataOnly`, unlock the key with the secret the options name. */
  open(header: BlockNode | undefined, settings: BlockCryptoSettings & { readonly metadataOnly?: boolean }): Promise<BlockCryptoVolume>;
}

export interface BlockCryptoSettings {
  /** The options given (`key-secret`, …), without the format's prefix. */
  readonly options: Readonly<Record<string, string>>;
  readonly secrets?: BlockSecrets;
  /** The format's prefix of the option names, for messages (`encrypt.`). */
  readonly prefix: string;
}

/** How `amend` goes about it. */
export interface AmendSettings {
  /** `--force`: do what would otherwise be refused as dangerous (erasing the last key slot, overwriting an active one). */
  readonly force?: boolean;
}

/** An opened encryption header: its sector cipher, and what `info` shows of it. */
export interface BlockCryptoVolume {
  /** Encrypt whole 512-byte sectors in place; `sector` numbers the first (the IVs' input). Throws when opened metadataOnly. */
  encrypt(data: Uint8Array, sector: number): void;
  decrypt(data: Uint8Array, sector: number): void;
  /** `info`'s fields of the encryption (qemu's keys and order, `format` included). */
  describe(): Readonly<Record<string, unknown>>;
  /** Change the key slots (`amend -o encrypt.state=…`: options without the prefix); absent when the encryption has none. */
  amend?(options: Readonly<Record<string, string>>, settings: AmendSettings): Promise<void>;
}

/** One operation of `qemu-img bitmap`. */
export type BitmapOperation =
  | { readonly kind: 'add'; readonly name: string; readonly granularity?: number; readonly disabled?: boolean }
  | { readonly kind: 'remove' | 'clear' | 'enable' | 'disable'; readonly name: string };

export interface PersistentBitmapInfo {
  readonly name: string;
  readonly granularity: number;
  /** Recording writes (qcow2's `auto` flag). */
  readonly enabled: boolean;
  /** Not stored consistently (qcow2's `in-use` flag left by a writer that did not close). */
  readonly inconsistent: boolean;
}

export interface PersistentBitmaps {
  /** The image's persistent bitmaps, in the image's order. */
  list(): readonly PersistentBitmapInfo[];
  /** Apply one operation and store the result (the image stays consistent after each). */
  change(operation: BitmapOperation): Promise<void>;
  /** A consistent bitmap's bits: bit i (byte i >> 3, bit i & 7) set when granule i is dirty. */
  read(name: string): Promise<Uint8Array>;
  /** Set these bits (OR, as qemu's merge) in a bitmap and store it. */
  merge(name: string, bits: Uint8Array): Promise<void>;
}

/** What the block subsystem hands to a module's block init functions. */
export interface BlockRegistrar {
  registerProtocol(driver: BlockProtocolDriver): void;
  registerFormat(driver: BlockFormatDriver): void;
  registerCodec(codec: BlockCodec): void;
  /**
   * The codec `name`, loading the module that provides `block-codec:<name>` on first use (a module
   * that declares it in `dependsOn`); throws a coded error when no module on the list provides it.
   */
  codec(name: string): Promise<BlockCodec>;
  registerCrypto(crypto: BlockCrypto): void;
  /** The encryption `name`, loading the module that provides `block-crypto:<name>` on first use, as `codec`. */
  crypto(name: string): Promise<BlockCrypto>;
}
