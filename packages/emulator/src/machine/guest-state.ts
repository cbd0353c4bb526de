import type { V86Cpu } from './v86-internals.ts';

const CS = 1;
const CR0_PG = 1 << 31;
const CR4_PAE = 1 << 5;
const EFLAGS_VM = 1 << 17;

const hex = (value: number) => `0x${(value >>> 0).toString(16).padStart(8, '0')}`;

/**
 * Where the guest was, in the terms QEMU's `info registers` uses: EIP (CS-relative), CS, the
 * CPU mode and paging. Read from v86's CPU views; never throws (it describes a machine that failed).
 */
export function describeGuestState(cpu: V86Cpu): string {
  try {
    const csBase = cpu.segment_offsets[CS]!;
    const eip = (cpu.previous_ip[0]! - csBase) >>> 0;
    const cr0 = cpu.cr[0]!;
    const cr4 = cpu.cr[4]!;
    let mode: string;
    if (cpu.protected_mode[0] === 0) mode = 'real mode';
    else if ((cpu.flags[0]! & EFLAGS_VM) !== 0) mode = 'virtual-8086 mode';
    else mode = `${cpu.is_32[0] ? '32' : '16'}-bit protected mode`;
    const paging = (cr0 & CR0_PG) === 0 ? 'paging off' : (cr4 & CR4_PAE) !== 0 ? 'PAE paging' : 'paging on';
    return `EIP=${hex(eip)} CS=${cpu.sreg[CS]!.toString(16).padStart(4, '0')} (linear ${hex(cpu.previous_ip[0]!)}), ${mode}, ${paging}, CR0=${hex(cr0)} CR3=${hex(cpu.cr[3]!)} CR4=${hex(cr4)}`;
  } catch {
    return 'guest state unavailable';
  }
}
