# byte-compat.sh on disks with 4096-byte logical blocks.
# vm-run: --block-size 4096 --disk-size 64M
# vm-files: tests/vm/byte-compat.sh
. /extra/byte-compat.sh
