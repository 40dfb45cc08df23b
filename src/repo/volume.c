/* volume.c - tar volume names; see include/pgpitr/repo/volume.h. */
#include "pgpitr/repo/volume.h"

#include <string.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/mem.h"

static int valid_stream(const char *s, size_t n)
{
    if (n == 0 || n >= PITR_VOLUME_STREAM_MAX)
        return 0;
    if (n == 4 && memcmp(s, "data", 4) == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int known_suffix(const char *sfx)
{
    for (int c = 0; c < PITR_CODEC_COUNT; c++)
        if (strcmp(sfx, pitr_codec_suffix((enum pitr_codec)c)) == 0)
            return 1;
    return 0;
}

char *pitr_volume_name(const char *stream, unsigned index, const char *sfx)
{
    if (!valid_stream(stream, strlen(stream)) || index > PITR_VOLUME_INDEX_MAX ||
        !known_suffix(sfx))
        return NULL;
    if (index == 0)
        return pitr_asprintf("%s.tar%s", stream, sfx);
    return pitr_asprintf("%s_%04u.tar%s", stream, index, sfx);
}

int pitr_volume_parse(const char *name, char stream[PITR_VOLUME_STREAM_MAX], unsigned *index)
{
    const char *tar = strstr(name, ".tar"), *us;
    size_t slen;

    if (tar == NULL || !known_suffix(tar + 4))
        return 0;
    us = memchr(name, '_', (size_t)(tar - name));
    slen = (size_t)((us != NULL ? us : tar) - name);
    if (!valid_stream(name, slen))
        return 0;
    *index = 0;
    if (us != NULL) {
        if (tar - us != 5)
            return 0;
        for (int i = 1; i <= 4; i++) {
            if (us[i] < '0' || us[i] > '9')
                return 0;
            *index = *index * 10 + (unsigned)(us[i] - '0');
        }
        if (*index == 0)
            return 0;
    }
    memcpy(stream, name, slen);
    stream[slen] = '\0';
    return 1;
}
