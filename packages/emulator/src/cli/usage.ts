export const USAGE = `usage: tessera [options] [disk_image]

A PC (32-bit x86, v86 engine) with QEMU's command line. Disks go through Tessera's block layer.

Standard options:
  -h, -help              print this help and exit
  -version               print the version and exit
  --list-modules [--output=human|json]
                         list the modules this executable may load, with their status
  -m [size=]MEGS[kMGT]   guest RAM (default 128M)
  -bios FILE             system BIOS (default /usr/share/seabios/bios.bin, Debian package 'seabios')
  -boot [order=]DRIVES   boot order: c hard disk, d CD-ROM, a floppy (default c)

Block devices:
  -drive file=FILE[,format=raw][,if=ide][,media=disk|cdrom][,index=0-3]
         [,readonly=on|off][,snapshot=on|off][,file.OPTION=VALUE...]
                         FILE may be a path or an http(s) URL
  -hda FILE, -hdb FILE   first / second IDE hard disk
  -cdrom FILE            IDE CD-ROM (secondary master)
  -fda FILE, -fdb FILE   floppy drives A: and B: (also -drive if=floppy,file=FILE)
  -snapshot              write to temporary overlays, never to the images

Linux boot:
  -kernel BZIMAGE        boot this kernel directly
  -initrd FILE           its initial ram disk (needs -m 64M plus its size)
  -append CMDLINE        its command line

Display and serial:
  -display none|TYPE[,OPTION=VALUE...]
                         a display module, e.g. web (default none)
  -nographic             no display; the serial console on stdio
  -serial stdio|none|pty|file:PATH|tcp:[HOST]:PORT[,server=on][,wait=off]|unix:PATH[,server=on][,wait=off]
                         COM1 (default stdio); on stdio Ctrl-a x quits, Ctrl-a h helps
  -serial mon:stdio      COM1 and the human monitor on stdio; Ctrl-a c switches

Monitors:
  -qmp unix:PATH,server=on,wait=off | tcp:HOST:PORT,server=on,wait=off
                         a QMP server
  -chardev socket,id=ID,path=PATH|host=H,port=P,server=on,wait=off
  -mon chardev=ID[,mode=control|readline]
                         QMP or the human monitor on a chardev
  -monitor stdio|unix:…|tcp:…|none
                         the human monitor

Network:
  -netdev TYPE,id=ID[,OPTION=VALUE...]
                         a network backend module, e.g. socket
  -device ne2k_pci,netdev=ID
                         the NE2000 NIC, plugged into netdev ID
  -nic TYPE[,model=ne2k_pci][,OPTION=VALUE...] | -nic none
                         a netdev and its NIC in one

Machine and process (QEMU's everyday options):
  -machine pc[,accel=tcg] | -M pc, -cpu qemu32|max, -smp 1, -vga std
                         what this machine is (help lists: -machine help, -cpu help)
  -machine pc,acpi=on    ACPI (power button for system_powerdown, S5 power-off) and the APIC;
                         off by default (acpi=off, -no-acpi)
  -nodefaults            no default devices (COM1 not on stdio unless -serial says)
  -name NAME[,process=PNAME]
                         the guest's name; process= names the process
  -S                     do not start the CPU (until the monitor's cont)
  -no-reboot             exit instead of rebooting when the guest resets
  -no-shutdown           stop (do not exit) when the guest powers off
  -pidfile FILE          write the pid to FILE (locked, removed at exit)
  -daemonize             run in the background once the machine has started
`;
