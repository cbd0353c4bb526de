// -machine/-M, -cpu, -smp, -vga: accepted when they name what this machine is (v86's PC), refused
// otherwise with what is supported. QEMU's wording where QEMU refuses the same value.
import { parseKeyValues } from '../key-value.ts';

/** What `-machine pc` is in QEMU 7.2: an alias of the i440FX + PIIX machine, which v86 models. */
const MACHINE_TYPES = new Map([
  ['pc', 'Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)'],
  ['pc-i440fx-7.2', 'Standard PC (i440FX + PIIX, 1996) (default)'],
]);

export const MACHINE_HELP = `Supported machines are:\n${[...MACHINE_TYPES].map(([name, text]) => `${name.padEnd(20)} ${text}`).join('\n')}\n`;

/** `-machine [type=]NAME[,accel=tcg][,acpi=on|off|auto]`. Returns 'help' for `-machine help`, else what it sets. */
export function checkMachine(argument: string): 'help' | { acpi?: boolean } {
  const kv = parseKeyValues(argument, 'type');
  const type = kv.get('type') ?? 'pc';
  if (type === 'help' || type === '?') return 'help';
  if (!MACHINE_TYPES.has(type)) {
    throw new Error(`unsupported machine type '${type}': this machine is pc (i440FX + PIIX, what v86 emulates)\nUse -machine help to list supported machines`);
  }
  const settings: { acpi?: boolean } = {};
  for (const [key, value] of kv) {
    if (key === 'type') continue;
    if (key === 'acpi') {
      // QEMU's OnOffAuto. auto is this machine's default: off (see the README's ACPI section).
      if (!['on', 'off', 'auto'].includes(value)) throw new Error(`Parameter 'acpi' does not accept value '${value}'`);
      settings.acpi = value === 'on';
      continue;
    }
    if (key === 'accel') {
      // v86 translates guest code to WebAssembly: the nearest thing QEMU has is TCG.
      if (value.split(':').includes('tcg')) continue;
      throw new Error(`accelerator '${value}' is not available: this machine emulates in software (v86); use accel=tcg or leave it out`);
    }
    throw new Error(`Property 'pc-i440fx-7.2-machine.${key}' not found`);
  }
  return settings;
}

/** CPU models whose every instruction v86 runs; v86 reports its own CPUID (Pentium 4 class) for each. */
const CPU_MODELS = new Map([
  ['qemu32', 'QEMU Virtual CPU version 2.5+ (the closest to v86: i686, MMX, SSE to SSE3)'],
  ['max', 'everything this machine emulates'],
  ['486', 'an older subset (the guest sees v86\'s CPUID)'],
  ['pentium', 'an older subset (the guest sees v86\'s CPUID)'],
  ['pentium2', 'an older subset (the guest sees v86\'s CPUID)'],
  ['pentium3', 'an older subset (the guest sees v86\'s CPUID)'],
]);
/** Accepted without a note: the models that describe v86's CPU as it is. */
const EXACT_MODELS = new Set(['qemu32', 'max']);

export const CPU_HELP = `Available CPUs:\n${[...CPU_MODELS].map(([name, text]) => `x86 ${name.padEnd(21)} ${text}`).join('\n')}\n`;

/** QEMU's 64-bit or host-bound models: real names, but not this machine. */
const OTHER_QEMU_MODELS = /^(qemu64|kvm32|kvm64|host|base|core2duo|coreduo|n270|athlon|phenom|Opteron|Conroe|Penryn|Nehalem|Westmere|SandyBridge|IvyBridge|Haswell|Broadwell|Skylake|Cascadelake|Cooperlake|Icelake|Snowridge|KnightsMill|Denverton|Dhyana|EPYC)/;

/** `-cpu MODEL`: 'help', a warning to print (an older model than v86's), or nothing. */
export function checkCpu(argument: string): { help?: true; warning?: string } {
  const [model = '', ...features] = argument.split(',');
  if (model === 'help' || model === '?') return { help: true };
  const supported = `use qemu32 or max (486, pentium, pentium2, pentium3 are accepted too)`;
  if (!CPU_MODELS.has(model)) {
    if (OTHER_QEMU_MODELS.test(model)) throw new Error(`CPU model '${model}' is not available: this machine emulates one 32-bit x86 CPU (v86, Pentium 4 class, no x86-64); ${supported}`);
    throw new Error(`unable to find CPU model '${model}'; ${supported}`);
  }
  if (features.some((f) => f !== '')) {
    throw new Error(`CPU features cannot be changed on this machine (v86's CPUID is fixed): use -cpu ${model} alone`);
  }
  if (EXACT_MODELS.has(model)) return {};
  return { warning: `the guest sees v86's CPU (Pentium 4 class, SSE3), a superset of ${model}` };
}

const SMP_KEYS = new Set(['cpus', 'sockets', 'dies', 'clusters', 'cores', 'threads', 'maxcpus']);

/** `-smp [cpus=]N[,sockets=…,cores=…,threads=…,maxcpus=…]`: every count must come to one CPU. */
export function checkSmp(argument: string): void {
  const kv = parseKeyValues(argument, 'cpus');
  for (const [key, value] of kv) {
    if (!SMP_KEYS.has(key)) throw new Error(`Parameter 'smp.${key}' is unexpected`);
    if (!/^\d+$/.test(value)) throw new Error(`Parameter 'smp.${key}' expects integer`);
    if (Number(value) > 1) throw new Error(`this machine has one CPU (v86 emulates no SMP): ${key}=${value} is not supported, use -smp 1`);
  }
}

/** QEMU 7.2's -vga types; this machine has v86's VGA (Bochs VBE, what QEMU calls std), always present. */
const QEMU_VGA_TYPES = new Set(['std', 'cirrus', 'vmware', 'qxl', 'xenfb', 'tcx', 'cg3', 'virtio', 'none']);

export function checkVga(argument: string): void {
  if (argument === 'std') return;
  if (!QEMU_VGA_TYPES.has(argument)) throw new Error(`unknown vga type: ${argument}; this machine has std`);
  const why = argument === 'none' ? "v86's VGA cannot be removed" : "v86's VGA is QEMU's std (Bochs VBE)";
  throw new Error(`vga type '${argument}' is not available: ${why}; use -vga std or leave it out`);
}
