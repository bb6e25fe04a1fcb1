/* SPDX-License-Identifier: MIT */
/*
 * mmdump.c — test helper for test_pack_unpack.py: print what an mmarr file holds as one JSON
 * document, through the public API only, so the tests check what mmarr-pack stored without
 * going through mmarr-unpack or mmarr-info:
 *   {"alignment": 4096, "meta": {"k": "v"}, "arrays": [{"name": "a", "dtype": "<f4",
 *    "shape": [3, 4], "order": "C", "nbytes": 48, "offset": 512, "meta": {...}}, ...]}
 * Arrays are listed in file order. Exit 1 with a message if the file does not open.
 */
#include "cli_common.h"

#include <mmarr.h>

#include <stdio.h>

static void meta_pair(bool first, const char *k, const char *v)
{
    printf("%s", first ? "" : ", ");
    cli_json_string(stdout, k);
    printf(": ");
    cli_json_string(stdout, v);
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    if (argc != 2) {
        fprintf(stderr, "usage: mmdump FILE\n");
        return 2;
    }
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(argv[1], 0, &f, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return 1;
    }
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    printf("{\"alignment\": %llu, \"meta\": {", (unsigned long long)fi.alignment);
    for (size_t i = 0; i < fi.meta_count; i++) {
        const char *k, *v;
        if (mmarr_file_meta(f, i, &k, &v, &e) == MMARR_OK)
            meta_pair(i == 0, k, v);
    }
    printf("}, \"arrays\": [");
    for (size_t i = 0; i < mmarr_file_count(f); i++) {
        mmarr_array_info a;
        if (mmarr_file_array(f, i, &a, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            mmarr_close(f);
            return 1;
        }
        printf("%s{\"name\": ", i ? ", " : "");
        cli_json_string(stdout, a.name);
        printf(", \"dtype\": ");
        cli_json_string(stdout, a.dtype_str);
        printf(", \"shape\": [");
        for (unsigned d = 0; d < a.ndim; d++)
            printf("%s%llu", d ? ", " : "", (unsigned long long)a.shape[d]);
        printf("], \"order\": \"%s\", \"nbytes\": %llu, \"offset\": %llu, \"meta\": {",
               a.order == MMARR_ORDER_F ? "F" : "C", (unsigned long long)a.nbytes,
               (unsigned long long)a.offset);
        for (size_t m = 0; m < a.meta_count; m++) {
            const char *k, *v;
            if (mmarr_array_meta(f, i, m, &k, &v, &e) == MMARR_OK)
                meta_pair(m == 0, k, v);
        }
        printf("}}");
    }
    printf("]}\n");
    mmarr_close(f);
    return 0;
}
