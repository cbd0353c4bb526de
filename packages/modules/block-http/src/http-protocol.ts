import type { BlockNode, BlockOpenOptions, BlockProtocolDriver } from '@tessera/core';
import { HttpConnection } from './http-connection.ts';
import { HttpNode } from './http-node.ts';
import { HTTP_OPTION_NAMES, parseHttpOptions } from './http-options.ts';
import { probeRemoteSize } from './remote-size.ts';

/** Read-only http:// and https:// images through byte-range requests, like QEMU's curl driver. */
export const httpProtocol: BlockProtocolDriver = {
  name: 'http',
  schemes: ['http', 'https'],
  options: HTTP_OPTION_NAMES,
  open: openHttpImage,
};

async function openHttpImage(location: string, { readOnly, driverOptions }: BlockOpenOptions): Promise<BlockNode> {
  const filename = chooseLocation(location, driverOptions.url);
  const url = parseUrl(filename);
  const shownUrl = hidePassword(url, filename);
  const options = parseHttpOptions(shownUrl, driverOptions);
  if (!readOnly) {
    throw new Error(
      `Could not open '${shownUrl}': the http driver is read-only; open the image read-only ` +
        '(as commands that only read it do, or with readonly=on), or copy it to a local file first',
    );
  }
  const connection = await HttpConnection.create(url, options, shownUrl);
  try {
    const size = await probeRemoteSize(connection, shownUrl, options.timeoutMs);
    const driver = url.protocol === 'https:' ? 'https' : 'http';
    return new HttpNode(connection, { driver, filename, shownUrl, size, ...options });
  } catch (error) {
    await connection.close();
    throw error;
  }
}

/** `--image-opts file.url=…` may name the URL as an option instead of (or as well as) the location. */
function chooseLocation(location: string, urlOption: string | undefined): string {
  if (urlOption === undefined || urlOption === location) return location;
  if (location === '') return urlOption;
  throw new Error(`Could not open '${location}': the url option names another URL ('${urlOption}')`);
}

function parseUrl(location: string): URL {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new Error(`Could not open '${location}': not a valid URL (expected http://host[:port]/path or https://…)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`Could not open '${location}': the http driver serves only http:// and https:// URLs`);
  }
  return url;
}

/** Messages are printed and logged, so a password in the URL is replaced by `***` there. */
function hidePassword(url: URL, location: string): string {
  if (!url.password) return location;
  const shown = new URL(url.href);
  shown.password = '***';
  return shown.href;
}
