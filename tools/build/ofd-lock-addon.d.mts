export declare const ofdLockAddonPath: string;
export declare function ofdLockAddon(): { readonly path: string; readonly bytes: string; readonly sha256: string };
