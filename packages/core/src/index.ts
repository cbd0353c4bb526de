// The public API of @tessera/core: the module system and the subsystem interfaces modules plug into.
export { Host, type HostOptions } from './host.ts';
export { ModuleError, type ModuleErrorCode, type ModuleFileRefusal, type ModuleRefusalKind } from './module/errors.ts';
export { formatModuleReport, type ModuleReport, type ModuleReportEntry } from './module/report.ts';
export type { ModuleState } from './module/loader.ts';
export type { InitFailure } from './module/init-queue.ts';
export type { ModuleOrigin, ModuleSource } from './module/directories.ts';
export type {
  Feature,
  ModuleCategory,
  ModuleDefinition,
  ModuleInit,
  ModuleList,
  ModuleListEntry,
  SubsystemApis,
  SubsystemName,
} from './module/types.ts';
export { BlockError, blockErrorCode, type BlockErrorCode, type CodedBlockError } from './block/errors.ts';
export { protocolOf, resolveRelative } from './block/location.ts';
export { writeZeroes, type BlockLayer, type CacheMode, type OpenImageOptions, type BackingOverride } from './block/layer.ts';
export {
  SIZE_OPTION,
  formattingSummary,
  optionHelpLines,
  parseAmendOptions,
  parseBlockOptions,
  withSizeOption,
  type BlockOptionEntry,
} from './block/options.ts';
export { SECTOR_SIZE } from './block/sector-view.ts';
export { MAX_SIZE, parseSize, type SizeParse } from './block/size.ts';
export type {
  BitmapOperation,
  BlockCodec,
  BlockCrypto,
  BlockCryptoSettings,
  BlockCryptoVolume,
  AmendSettings,
  BlockCreateOptions,
  BlockFormatCapabilities,
  BlockFormatDriver,
  BlockNode,
  BlockOpenOptions,
  BlockOptionSpec,
  BlockOptionType,
  BlockPermission,
  BlockPermissions,
  BlockProtocolDriver,
  BlockRegistrar,
  BlockSecrets,
  BlockStatus,
  CheckRepair,
  CheckResult,
  ImageDescription,
  InternalSnapshots,
  MeasureResult,
  OpenRelative,
  PersistentBitmapInfo,
  PersistentBitmaps,
  ResizeOptions,
  SnapshotInfo,
  SnapshotSelector,
  UserObject,
  WriteZeroesOptions,
} from './block/types.ts';
export type { DisplayBackend, DisplaySession, MachineConsole, Screen, UiRegistrar } from './ui/types.ts';
export type { NetBackend, NetPort, NetRegistrar } from './net/types.ts';
