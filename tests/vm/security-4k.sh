# security.sh on disks with 4096-byte logical blocks (a header sector is a
# whole page there).
# vm-run: --block-size 4096 --disk-size 64M
# vm-files: tests/vm/security.sh
. /extra/security.sh
