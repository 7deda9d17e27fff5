# Guest half of scripts/demo (runs inside the VM).
. /extra/guest.sh
impl=${DEMO_TARGET:-rust}
data=/dev/vda log=/dev/vdb replay=/dev/vdc

step "loading the $impl log-writes target"
load_target "$impl"
step "creating log-writes device 'lw': data $data, log $log"
create_lw lw $data $log
dmsetup table lw

step "mkfs.ext4 on /dev/mapper/lw, mount, write files"
mkfs.ext4 -q /dev/mapper/lw
mkdir -p /mnt/lw
mount /dev/mapper/lw /mnt/lw
mkdir /mnt/lw/dir
for i in 1 2 3 4 5 6 7 8; do
	head -c $((i * 12345)) /dev/urandom >/mnt/lw/dir/file$i
done
sync
(cd /mnt/lw && sha256sum dir/*) >/tmp/at-mark.sums
step "mark 'files-written' (status: $(dmsetup status lw | cut -d' ' -f4-))"
dmsetup message lw 0 mark files-written

step "more changes after the mark: delete, overwrite, new files"
rm /mnt/lw/dir/file1
head -c 99999 /dev/urandom >/mnt/lw/dir/file2
for i in 1 2 3; do echo "later $i" >/mnt/lw/later$i; done
umount /mnt/lw
step "removing the device (status: $(dmsetup status lw | cut -d' ' -f4-))"
dmsetup remove lw
unload_target "$impl"

step "the log"
lwlog info $log

step "replaying the log up to mark 'files-written' onto $replay"
lwlog replay $log $replay --end-mark files-written
step "mount (journal recovery), unmount, e2fsck -fn"
mkdir -p /mnt/replay
mount $replay /mnt/replay
umount /mnt/replay
e2fsck -fn $replay || fail "e2fsck found problems in the replayed filesystem"
step "comparing file checksums with those taken at the mark"
mount -o ro $replay /mnt/replay
(cd /mnt/replay && sha256sum -c /tmp/at-mark.sums) || fail "checksums differ from the mark"
[ ! -e /mnt/replay/later1 ] || fail "a file created after the mark is in the replay"
umount /mnt/replay
echo "demo OK: the filesystem replayed to mark 'files-written' is clean and holds exactly the files of that moment"
