/*
 * video.h - frames to an .mp4, .gif or .png file through an ffmpeg child.
 *
 * hpo-render hands raw RGB frames to ffmpeg (Debian's ffmpeg package) on a
 * pipe: H.264 (libx264, yuv420p) for .mp4, a two-pass palette for .gif, one
 * PNG image for .png. ffmpeg writes FILE.part and the file takes its name
 * only when ffmpeg has finished cleanly, so a failed render leaves no
 * half-written video under the name asked for.
 */
#ifndef HPO_VIDEO_H
#define HPO_VIDEO_H

#include <stddef.h>

typedef enum video_format {
    VIDEO_MP4 = 0,
    VIDEO_GIF,
    VIDEO_PNG,
} video_format;

typedef struct video video;

/* The format of path by its extension (.mp4, .gif, .png, any case).
 * Returns 0, or -1 when it has none of them. */
int video_format_of(const char *path, video_format *format);

/*
 * Start ffmpeg writing path (format f; width x height pixels at fps frames
 * per second; .png takes one frame). mp4 needs even width and height
 * (yuv420p). Ignores SIGPIPE for the process, so a dead ffmpeg is a write
 * error, not a signal. Returns the writer, or NULL with a message (ffmpeg
 * not on PATH: install Debian's ffmpeg). Caller owns the result; finish
 * with video_close or video_abort.
 */
video *video_open(const char *path, video_format f, int width, int height,
                  int fps, char *err, size_t errlen);

/* Send one frame: (height, width, 3) bytes, RGB, top row first. Returns 0,
 * or -1 with a message when ffmpeg has stopped reading. */
int video_write(video *v, const unsigned char *rgb, char *err, size_t errlen);

/*
 * Close the pipe, wait for ffmpeg and rename FILE.part to FILE. Frees *v and
 * sets it to NULL. Returns 0, or -1 with a message giving ffmpeg's exit
 * status (its own message is on stderr before) or the rename's error; the
 * partial file is removed.
 */
int video_close(video **v, char *err, size_t errlen);

/* Stop ffmpeg, remove FILE.part, free *v and set it to NULL. Accepts NULL
 * and *v == NULL. */
void video_abort(video **v);

#endif
