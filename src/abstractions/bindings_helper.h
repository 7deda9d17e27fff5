/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C declarations the abstraction layer needs beyond kernel::bindings; bindgen
 * runs on this header from our Kbuild (see Kbuild) and only emits items from
 * the headers and functions allowlisted there. Every other type resolves to
 * the one in kernel::bindings, so both bindings share one set of types.
 */
#include <linux/bio.h>
#include <linux/dax.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>

/* Macros bindgen cannot see through. */
const gfp_t RUST_CONST_HELPER_GFP_NOIO = GFP_NOIO;
const unsigned int RUST_CONST_HELPER_PF_MEMALLOC_NOIO = PF_MEMALLOC_NOIO;
const blk_features_t RUST_CONST_HELPER_BLK_FEAT_WRITE_CACHE = BLK_FEAT_WRITE_CACHE;
const blk_flags_t RUST_CONST_HELPER_BLK_FLAG_WRITE_CACHE_DISABLED = BLK_FLAG_WRITE_CACHE_DISABLED;
const int RUST_CONST_HELPER_BIOSET_NEED_BVECS = BIOSET_NEED_BVECS;
