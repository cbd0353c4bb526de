export declare function inlinedBytes(): import('vite').Plugin;
