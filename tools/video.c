/*
 * video.c - frames to a file through an ffmpeg child (video.h).
 */
#include "video.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

struct video {
    pid_t pid;          /* ffmpeg */
    int fd;             /* its stdin */
    size_t frame_bytes; /* width * height * 3 */
    long frames;        /* written */
    char *path, *part;  /* the file asked for, ffmpeg's FILE.part */
};

int video_format_of(const char *path, video_format *format)
{
    static const char *const ext[] = {".mp4", ".gif", ".png"};
    size_t n = strlen(path);
    for (int i = 0; i < 3; i++)
        if (n > 4 && !strcasecmp(path + n - 4, ext[i])) {
            *format = (video_format)i;
            return 0;
        }
    return -1;
}

video *video_open(const char *path, video_format f, int width, int height,
                  int fps, char *err, size_t errlen)
{
    char size[32], rate[16];
    snprintf(size, sizeof size, "%dx%d", width, height);
    snprintf(rate, sizeof rate, "%d", fps);
    video *v = xcalloc(1, sizeof *v);
    v->fd = -1;
    v->frame_bytes = (size_t)width * (size_t)height * 3;
    v->path = xcalloc(1, strlen(path) + 1);
    memcpy(v->path, path, strlen(path));
    v->part = xcalloc(1, strlen(path) + 6);
    snprintf(v->part, strlen(path) + 6, "%s.part", path);
    const char *argv[40] = {"ffmpeg",   "-hide_banner", "-loglevel", "error",
                            "-nostdin", "-y",           "-f",        "rawvideo",
                            "-pix_fmt", "rgb24",        "-s",        size,
                            "-r",       rate,           "-i",        "pipe:0"};
    int a = 16;
    if (f == VIDEO_MP4) {
        const char *more[] = {"-c:v",      "libx264",    "-preset",  "veryfast",
                              "-crf",      "23",         "-pix_fmt", "yuv420p",
                              "-movflags", "+faststart", "-f",       "mp4"};
        for (size_t i = 0; i < sizeof more / sizeof *more; i++)
            argv[a++] = more[i];
    } else if (f == VIDEO_GIF) {
        argv[a++] = "-vf";
        argv[a++] = "split[a][b];[a]palettegen[p];[b][p]paletteuse";
        argv[a++] = "-f";
        argv[a++] = "gif";
    } else {
        const char *more[] = {"-frames:v", "1",      "-c:v",    "png",
                              "-f",        "image2", "-update", "1"};
        for (size_t i = 0; i < sizeof more / sizeof *more; i++)
            argv[a++] = more[i];
    }
    argv[a++] = v->part;
    argv[a] = NULL;

    int p[2];
    if (pipe2(p, O_CLOEXEC)) {
        errf(err, errlen, "cannot make a pipe to ffmpeg: %s", strerror(errno));
        goto fail;
    }
    signal(SIGPIPE, SIG_IGN);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    int rc = posix_spawnp(&v->pid, "ffmpeg", &fa, NULL, (char *const *)argv,
                          environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (rc) {
        close(p[1]);
        errf(
            err, errlen,
            "cannot run ffmpeg: %s; install Debian's ffmpeg package (deploy/setup does)",
            strerror(rc));
        goto fail;
    }
    v->fd = p[1];
    return v;
fail:
    free(v->path);
    free(v->part);
    free(v);
    return NULL;
}

int video_write(video *v, const unsigned char *rgb, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < v->frame_bytes) {
        ssize_t n = write(v->fd, rgb + done, v->frame_bytes - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errf(
                err, errlen,
                "ffmpeg stopped reading frame %ld of %s: %s (its message is above)",
                v->frames, v->path, n < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        done += (size_t)n;
    }
    v->frames++;
    return 0;
}

/* Wait for ffmpeg; returns its wait status, or -1. */
static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

static void free_video(video **vp)
{
    free((*vp)->path);
    free((*vp)->part);
    free(*vp);
    *vp = NULL;
}

int video_close(video **vp, char *err, size_t errlen)
{
    video *v = *vp;
    close(v->fd);
    int st = reap(v->pid);
    int rc = 0;
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (st >= 0 && WIFEXITED(st))
            errf(
                err, errlen,
                "ffmpeg failed writing %s (exit status %d; its message is above)",
                v->path, WEXITSTATUS(st));
        else
            errf(err, errlen, "ffmpeg failed writing %s (killed by signal %d)",
                 v->path, st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        unlink(v->part);
        rc = -1;
    } else if (rename(v->part, v->path)) {
        errf(err, errlen, "cannot rename %s to %s: %s", v->part, v->path,
             strerror(errno));
        unlink(v->part);
        rc = -1;
    }
    free_video(vp);
    return rc;
}

void video_abort(video **vp)
{
    if (!vp || !*vp)
        return;
    close((*vp)->fd);
    kill((*vp)->pid, SIGTERM);
    reap((*vp)->pid);
    unlink((*vp)->part);
    free_video(vp);
}
