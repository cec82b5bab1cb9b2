/*
 * guide.c — /regions/<region>/GUIDE (SPEC §2, §16): seed 004 §4.3's
 * "custom image guide", shown beside the self-made image list: how to make
 * an image of one's own, convert it to what imgfs takes, and bring it in.
 * The same text, as a manual page, is imgfs-images(7)
 * (man/imgfs-images.7; tests/integration/test_tree.sh checks that every
 * command line here is there too).  Read-only, the same for every caller and
 * region; its bytes are this file's text, so its size is known without
 * rendering anything that grows.
 */
#include "attr.h"
#include "buf.h"
#include "fs.h"

static const char guide[] =
	"Your own images: making, converting and bringing them in\n"
	"=========================================================\n"
	"\n"
	"imgfs takes a raw disk or a QCOW2 image as an image's system disk, and an\n"
	"ISO 9660 file as an ISO image.  VHD, VHDX, VMDK, VDI and OVA are refused\n"
	"with the reason: convert them first (below).  The manual page is\n"
	"imgfs-images(7); every file named here is in imgfs(5).\n"
	"\n"
	"1. Make the system\n"
	"\n"
	"  Install it in a virtual machine from its installer's ISO, on a disk of\n"
	"  the size the image's instances should start with:\n"
	"\n"
	"    qemu-img create -f qcow2 disk.qcow2 20G\n"
	"    qemu-system-x86_64 -enable-kvm -m 4096 -cdrom installer.iso \\\n"
	"        -drive file=disk.qcow2,if=virtio -boot d\n"
	"\n"
	"  In the guest, before the last shutdown:\n"
	"  - the virtio drivers (a Linux kernel has them; Windows needs virtio-win);\n"
	"  - cloud-init (Linux) or cloudbase-init (Windows): an instance gets its\n"
	"    host name and administrator password from disks/cidata;\n"
	"  - a serial console, and DHCP on the first network interface;\n"
	"  - nothing of this machine's own: its machine-id, SSH host keys, logs,\n"
	"    shell histories, the installer's user (virt-sysprep -a disk.qcow2\n"
	"    removes them; virt-sparsify --in-place disk.qcow2 gives back the\n"
	"    free space).\n"
	"  Shut it down cleanly: a disk taken from a running guest may not boot.\n"
	"\n"
	"2. Convert it to QCOW2 (or raw)\n"
	"\n"
	"    qemu-img convert -p -O qcow2 disk.vhd disk.qcow2      # VHD, VHDX\n"
	"    qemu-img convert -p -O qcow2 disk.vmdk disk.qcow2     # VMDK\n"
	"    qemu-img convert -p -O qcow2 disk.vdi disk.qcow2      # VirtualBox\n"
	"    tar xf machine.ova                                    # an OVA is a tar:\n"
	"    qemu-img convert -p -O qcow2 machine-disk1.vmdk disk.qcow2\n"
	"    qemu-img convert -p -O qcow2 -c disk.qcow2 small.qcow2   # smaller\n"
	"    qemu-img info disk.qcow2                              # check: qcow2,\n"
	"                                                          # no backing file\n"
	"\n"
	"  A QCOW2 with a backing file, an encrypted QCOW2 or a LUKS volume is\n"
	"  refused: convert it to a plain one as above (imgfs encrypts an image\n"
	"  itself: its `encrypted` file).\n"
	"\n"
	"3. Bring it in\n"
	"\n"
	"    R=/mnt/imgfs/regions/cn-north-1                 # your mount, a region\n"
	"    mkdir $R/private/web                            # a queued image\n"
	"    echo linux > $R/private/web/os-type             # what it is: os-type,\n"
	"    echo centos > $R/private/web/platform           # platform, version,\n"
	"    echo 7.9 > $R/private/web/version               # arch, boot-mode\n"
	"    cp disk.qcow2 $R/private/web/disks/vda          # upload, checked at close\n"
	"    imgfs wait $R/private/web                       # until available\n"
	"\n"
	"  or, from a server the service can reach:\n"
	"\n"
	"    echo \"url https://images.example.com/disk.qcow2\" > $R/private/web/source\n"
	"    imgfs wait $R/private/web\n"
	"\n"
	"  An ISO image: mkdir $R/iso/NAME, then cp FILE.iso $R/iso/NAME/disks/cdrom.\n"
	"\n"
	"4. Check it\n"
	"\n"
	"    cat $R/private/web/status $R/private/web/error  # available, or why not\n"
	"    cat $R/private/web/files/vda1/etc/os-release    # the system you made\n"
	"    mkdir $R/instances/try                          # an instance of it\n"
	"    echo private/web > $R/instances/try/image\n";

void fs_show_guide(struct fs_buf *out)
{
	fs_buf_put(out, guide, sizeof(guide) - 1);
}
