import { createHash, randomBytes } from 'node:crypto';
import type { Link } from './link.ts';
import { OUR_MAX_RECV_DATA_SEGMENT } from './link.ts';
import { decodeKeys, encodeKeys, FINAL, IMMEDIATE, OP } from './pdu.ts';

/** What the login settled (RFC 7143 §13), and the sequence numbers to go on with. */
export interface SessionParameters {
  /** Largest data segment the target accepts from us (its MaxRecvDataSegmentLength). */
  readonly targetMaxRecv: number;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly immediateData: boolean;
  readonly initialR2T: boolean;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly maxCmdSN: number;
  readonly isid: Buffer;
  readonly tsih: number;
}

export interface LoginRequest {
  readonly initiatorName: string;
  readonly targetName: string;
  readonly user?: string;
  readonly password?: string;
}

/** A login failure: `code` tells auth, unknown target and protocol faults apart. */
export class LoginError extends Error {
  constructor(
    message: string,
    readonly code: 'iscsi-auth' | 'iscsi-no-target' | 'iscsi-protocol',
  ) {
    super(message);
  }
}

const SECURITY = 0;
const OPERATIONAL = 1;
const FULL_FEATURE = 3;
/** Login rounds before giving up on a target that never transits (each is one request/response). */
const MAX_ROUNDS = 16;
const CHAP_MD5 = '5';

// Offered values: qemu/libiscsi's choices (immediate data, no initial R2T, 256 KiB bursts).
const OFFER_FIRST_BURST = 262144;
const OFFER_MAX_BURST = 16776192;

/** Log in as a normal session on a fresh connection: security stage (None or CHAP), then operational. */
export async function login(link: Link, request: LoginRequest): Promise<SessionParameters> {
  const isid = Buffer.concat([Buffer.from([0x80]), randomBytes(5)]); // "random" ISID format (§10.12.5)
  const itt = 0;
  const cmdSN = 1;
  let expStatSN = 0;
  let tsih = 0;
  let stage = SECURITY;
  let maxCmdSN = cmdSN;
  const answers = new Map<string, string>();
  // First security PDU: who we are; AuthMethod CHAP only when a user is given (a target requiring
  // CHAP then refuses None with an authentication error, as libiscsi reports it).
  let pending: [string, string][] = [
    ['InitiatorName', request.initiatorName],
    ['TargetName', request.targetName],
    ['SessionType', 'Normal'],
    ['AuthMethod', request.user !== undefined ? 'CHAP,None' : 'None'],
  ];
  let transit = request.user === undefined;
  let chapState: 'none' | 'offered' | 'algorithm' | 'answered' = request.user !== undefined ? 'offered' : 'none';
  const operationalKeys: [string, string][] = [
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['MaxRecvDataSegmentLength', String(OUR_MAX_RECV_DATA_SEGMENT)],
    ['FirstBurstLength', String(OFFER_FIRST_BURST)],
    ['MaxBurstLength', String(OFFER_MAX_BURST)],
    ['ImmediateData', 'Yes'],
    ['InitialR2T', 'No'],
    ['MaxConnections', '1'],
    ['MaxOutstandingR2T', '1'],
    ['DataPDUInOrder', 'Yes'],
    ['DataSequenceInOrder', 'Yes'],
    ['ErrorRecoveryLevel', '0'],
    ['DefaultTime2Wait', '0'],
    ['DefaultTime2Retain', '0'],
  ];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = stage === SECURITY ? OPERATIONAL : FULL_FEATURE;
    const flags = (transit ? FINAL : 0) | (stage << 2) | (transit ? next : 0);
    const bytes8 = Buffer.alloc(8);
    isid.copy(bytes8, 0);
    bytes8.writeUInt16BE(tsih, 6);
    link.send(
      encodeLoginPdu(flags, bytes8, itt, cmdSN, expStatSN, encodeKeys(pending)),
    );
    pending = [];
    const response = await receiveLoginResponse(link);
    const header = response.header;
    const statusClass = header[36]!;
    const statusDetail = header[37]!;
    if (statusClass !== 0) throw loginStatusError(statusClass, statusDetail, request);
    if (header.readUInt32BE(16) !== itt) throw new LoginError('the target answered the login with another task tag', 'iscsi-protocol');
    expStatSN = (header.readUInt32BE(24) + 1) >>> 0;
    maxCmdSN = header.readUInt32BE(32);
    for (const [k, v] of response.keys) answers.set(k, v);
    const responseStage = (header[1]! >> 2) & 3;
    const transited = (header[1]! & FINAL) !== 0;
    if (responseStage !== stage) throw new LoginError(`the target answered login stage ${stage} as stage ${responseStage}`, 'iscsi-protocol');
    if (transited) {
      const nextStage = header[1]! & 3;
      if (!transit || nextStage !== next) throw new LoginError('the target moved to a login stage not asked for', 'iscsi-protocol');
      tsih = header.readUInt16BE(14);
      if (nextStage === FULL_FEATURE) return settle(answers, { cmdSN, expStatSN, maxCmdSN, isid, tsih });
      stage = OPERATIONAL;
      pending = operationalKeys;
      transit = true;
      continue;
    }
    // The target wants another round of this stage.
    if (stage === SECURITY) {
      const step = chapStep(chapState, response.keys, request);
      chapState = step.state;
      pending = step.keys;
      transit = step.transit;
    } else {
      // Operational stage not finished by the target: answer nothing new and ask to transit again.
      pending = [];
      transit = true;
    }
  }
  throw new LoginError(`the target did not complete the login in ${MAX_ROUNDS} rounds`, 'iscsi-protocol');
}

function encodeLoginPdu(flags: number, bytes8: Buffer, itt: number, cmdSN: number, expStatSN: number, data: Buffer): Buffer[] {
  const header = Buffer.alloc(48);
  header[0] = OP.LOGIN_REQUEST | IMMEDIATE;
  header[1] = flags;
  header.writeUIntBE(data.length, 5, 3);
  bytes8.copy(header, 8);
  header.writeUInt32BE(itt, 16);
  header.writeUInt16BE(0, 20); // CID
  header.writeUInt32BE(cmdSN, 24);
  header.writeUInt32BE(expStatSN >>> 0, 28);
  const pad = (4 - (data.length % 4)) % 4;
  return [header, data, Buffer.alloc(pad)];
}

/** The next login response, joining continued (C bit) text. */
async function receiveLoginResponse(link: Link): Promise<{ header: Buffer; keys: Map<string, string> }> {
  const parts: Buffer[] = [];
  let total = 0;
  for (let pieces = 0; pieces < 64; pieces++) {
    const pdu = await link.receive();
    if (pdu.opcode !== OP.LOGIN_RESPONSE) throw new LoginError(`the target sent opcode 0x${pdu.opcode.toString(16)} during login`, 'iscsi-protocol');
    if (pdu.data.length > 8192) throw new LoginError('the target sent a login response longer than 8192 bytes', 'iscsi-protocol');
    parts.push(pdu.data);
    total += pdu.data.length;
    if (total > 65536) throw new LoginError('the target sent more than 64 KiB of login text', 'iscsi-protocol');
    if (!(pdu.header[1]! & 0x40) || pdu.header[36] !== 0) {
      let keys: Map<string, string>;
      try {
        keys = decodeKeys(Buffer.concat(parts));
      } catch (error) {
        throw new LoginError((error as Error).message, 'iscsi-protocol');
      }
      return { header: pdu.header, keys };
    }
    // Continued text: the initiator sends an empty login request to get the rest (§11.12.2).
    throw new LoginError('the target continued its login text (C bit), which this initiator does not ask for', 'iscsi-protocol');
  }
  throw new LoginError('the target sent too many login PDUs', 'iscsi-protocol');
}

function chapStep(
  state: 'none' | 'offered' | 'algorithm' | 'answered',
  keys: Map<string, string>,
  request: LoginRequest,
): { state: 'none' | 'offered' | 'algorithm' | 'answered'; keys: [string, string][]; transit: boolean } {
  const method = keys.get('AuthMethod');
  if (state === 'offered') {
    if (method === 'None') return { state: 'none', keys: [], transit: true };
    if (method !== 'CHAP') throw new LoginError(`the target chose AuthMethod=${method ?? '(none)'}, not CHAP or None`, 'iscsi-auth');
    return { state: 'algorithm', keys: [['CHAP_A', CHAP_MD5]], transit: false };
  }
  if (state === 'algorithm') {
    if (keys.get('CHAP_A') !== CHAP_MD5) throw new LoginError(`the target chose CHAP_A=${keys.get('CHAP_A') ?? '(none)'}; only MD5 (5) is supported`, 'iscsi-auth');
    const id = Number(keys.get('CHAP_I'));
    const challenge = decodeBinary(keys.get('CHAP_C'));
    if (!Number.isInteger(id) || id < 0 || id > 255 || !challenge || challenge.length === 0 || challenge.length > 1024) {
      throw new LoginError('the target sent a malformed CHAP challenge', 'iscsi-protocol');
    }
    if (request.password === undefined) throw new LoginError('the target requires CHAP and no password was given', 'iscsi-auth');
    const response = createHash('md5').update(Buffer.from([id])).update(Buffer.from(request.password, 'utf8')).update(challenge).digest('hex');
    return { state: 'answered', keys: [['CHAP_N', request.user ?? ''], ['CHAP_R', `0x${response}`]], transit: true };
  }
  if (state === 'none' && method === 'CHAP') throw new LoginError('the target requires CHAP authentication: give user and password', 'iscsi-auth');
  throw new LoginError('the target did not complete the security stage', 'iscsi-protocol');
}

/** CHAP binary values: `0x` hex or `0b` base64 (§13.1). */
function decodeBinary(value: string | undefined): Buffer | undefined {
  if (!value) return undefined;
  if (/^0x([0-9a-f]{2})+$/i.test(value)) return Buffer.from(value.slice(2), 'hex');
  if (/^0b[A-Za-z0-9+/=]+$/.test(value)) return Buffer.from(value.slice(2), 'base64');
  return undefined;
}

function loginStatusError(statusClass: number, detail: number, request: LoginRequest): LoginError {
  const code = (statusClass << 8) | detail;
  const hex = `0x${code.toString(16).padStart(4, '0')}`;
  if (code === 0x0201) return new LoginError(`Login failed: authentication failed (status ${hex}): check user and password`, 'iscsi-auth');
  if (code === 0x0202) return new LoginError(`Login failed: this initiator is not authorized for target ${request.targetName} (status ${hex})`, 'iscsi-auth');
  if (code === 0x0203 || code === 0x0204) return new LoginError(`Login failed: no target named ${request.targetName} (status ${hex})`, 'iscsi-no-target');
  if (statusClass === 1) return new LoginError(`Login failed: the target redirects elsewhere (status ${hex}), which is not followed`, 'iscsi-protocol');
  return new LoginError(`Login failed with status ${hex} (${statusClass === 2 ? 'initiator error' : 'target error'})`, statusClass === 2 ? 'iscsi-auth' : 'iscsi-protocol');
}

/** Combine offers and answers (§13): numbers are the smaller, InitialR2T OR, ImmediateData AND. */
function settle(answers: Map<string, string>, sequence: Omit<SessionParameters, 'targetMaxRecv' | 'firstBurstLength' | 'maxBurstLength' | 'immediateData' | 'initialR2T'>): SessionParameters {
  const number = (key: string, offered: number, fallback: number, min: number, max: number): number => {
    const value = answers.get(key);
    if (value === undefined) return Math.min(offered, fallback);
    const n = /^\d{1,8}$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw new LoginError(`the target answered ${key}=${value.slice(0, 32)}, outside ${min}..${max}`, 'iscsi-protocol');
    return Math.min(offered, n);
  };
  const yes = (key: string, fallback: boolean): boolean => {
    const value = answers.get(key);
    return value === undefined ? fallback : value === 'Yes';
  };
  for (const key of ['HeaderDigest', 'DataDigest']) {
    const value = answers.get(key);
    if (value !== undefined && value !== 'None') throw new LoginError(`the target insists on ${key}=${value}; only None is supported`, 'iscsi-protocol');
  }
  const maxBurstLength = number('MaxBurstLength', OFFER_MAX_BURST, 262144, 512, 16777215);
  const firstBurstLength = Math.min(maxBurstLength, number('FirstBurstLength', OFFER_FIRST_BURST, 65536, 512, 16777215));
  // The target's own MaxRecvDataSegmentLength is a declaration (default 8192), not negotiated.
  const declared = answers.get('MaxRecvDataSegmentLength');
  const targetMaxRecv = declared === undefined ? 8192 : Number(declared);
  if (!(Number.isInteger(targetMaxRecv) && targetMaxRecv >= 512 && targetMaxRecv <= 16777215)) {
    throw new LoginError(`the target declared MaxRecvDataSegmentLength=${declared!.slice(0, 32)}, outside 512..16777215`, 'iscsi-protocol');
  }
  return {
    ...sequence,
    targetMaxRecv,
    firstBurstLength,
    maxBurstLength,
    immediateData: yes('ImmediateData', true) && true,
    initialR2T: yes('InitialR2T', true) || false,
  };
}
