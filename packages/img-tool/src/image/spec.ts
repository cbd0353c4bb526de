/** An image as the command line names it, before it is opened. */
export interface ImageSource {
  /** The filename operand: a path, a URL, or an `--image-opts` string. */
  readonly filename: string;
  /** `-f`/`-F`: the format, or a protocol name (`file`, `http`) to open the storage alone. */
  readonly format?: string;
  /** The operand is an `--image-opts` option string. */
  readonly imageOpts?: boolean;
  /** Format options to open it with (a new image's creation options that are open options too). */
  readonly formatOptions?: Readonly<Record<string, string>>;
}

/** What to open: the resolved location and driver choices. */
export interface ImageSpec {
  /** Path or URL; absent when `--image-opts` named only a driver. */
  readonly location: string | undefined;
  readonly format: string | undefined;
  readonly protocol: string | undefined;
  readonly fileOptions: Readonly<Record<string, string>>;
  readonly formatOptions: Readonly<Record<string, string>>;
  /** Any `file.*` option was given (a protocol node is described). */
  readonly hasFile: boolean;
}
