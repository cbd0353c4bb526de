import { STATUS_CODES } from 'node:http';

/** `HTTP 404 Not Found`, the way curl-based tools report a failed status. */
export function describeStatus(statusCode: number): string {
  const reason = STATUS_CODES[statusCode];
  return reason ? `HTTP ${statusCode} ${reason}` : `HTTP ${statusCode}`;
}

/**
 * Turn a failed request (network, TLS, timeout) into words a user can act on. `expired`: the
 * request's overall deadline ran out while waiting for the answer or receiving the body.
 */
export function describeRequestError(error: unknown, timeoutMs: number, expired?: 'waiting' | 'receiving'): string {
  const { code, message } = error as { code?: string; message?: string };
  const timeout = `timeout=${timeoutMs / 1000}`;
  if (expired === 'waiting') return `the server did not answer within ${timeoutMs / 1000} s (${timeout})`;
  if (expired === 'receiving') {
    return (
      `the transfer did not finish within ${timeoutMs / 1000} s (${timeout} bounds each request as a whole, ` +
      'as curl does; raise it for a slow server)'
    );
  }
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting timed out after ${timeoutMs / 1000} s (${timeout}; raise the timeout option for slow servers)`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `the server did not answer within ${timeoutMs / 1000} s (${timeout})`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `the server stopped sending data for ${timeoutMs / 1000} s (${timeout})`;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the server closed the connection';
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Could not resolve host (${message ?? code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'No route to host';
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) {
    return (
      `SSL certificate problem: ${message ?? code} ` +
      "(trust the server's CA with the option ca-file=<PEM file>, or skip verification with sslverify=off)"
    );
  }
  if (code === 'EPROTO' || code?.startsWith('ERR_SSL')) return `SSL connection failed: ${message ?? code}`;
  return message ?? String(error);
}
