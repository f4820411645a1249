/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's display and input: the identity screen on the framebuffer, keys and taps, the kernel log. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fb.h>
#include <linux/input.h>
#include <linux/kd.h>
#include <linux/netlink.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "screen.h"

#define INPUT_DIR "/dev/input"
/* What a device delivers per screen_process() call: a flood of events cannot starve the port. */
#define INPUT_EVENTS_PER_ROUND 64U
/* ... and what INPUT reads from each before it answers. */
#define INPUT_CATCH_UP_ROUNDS 64U
#define KMSG_RECORDS_PER_ROUND 64U
#define UEVENTS_PER_ROUND 32U
/* /dev/kmsg refuses reads into less than this (CONSOLE_EXT_LOG_MAX). */
#define KMSG_BUF 8192U
/* The characters typed that INPUT reports (as hex, they fit a line), and those the screen shows. */
#define TEXT_MAX 64U
#define KEYS_SHOWN 40U
#define LOG_LINES 128U
#define LOG_COLUMNS_MAX 160U
#define TAPS_SHOWN 16U
#define TITLE_MAX 64U /* names.h VM_NAME_MAX: vmmd sends persona and VM names */
/* The kernel log is redrawn at most this often, however fast it grows. */
#define LOG_REDRAW_USEC (100 * USEC_PER_MSEC)
/* Without EVIOCGABS (a test's file), absolute axes are taken to span this. */
#define ABS_DEFAULT_MAX 32767
/* KDFONTOP's largest font (6.1's KD_FONT_OP_GET): 512 glyphs of up to 32x32, 32 rows per glyph. */
#define FONT_CHARS_MAX 512U
#define FONT_SIDE_MAX 32U

#define COLOUR_BACKGROUND 0x14181cU
#define COLOUR_KEYS 0xf0f0f0U
#define COLOUR_LOG 0xa8b0b8U
#define COLOUR_TAP 0xffd000U
/* The VGA font's (code page 437) pilcrow: how an Enter shows in the keys line. */
#define GLYPH_ENTER 0x14

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

typedef struct InputDevice {
        int fd;
        dev_t rdev;                     /* 0: a test's file */
        int32_t min[2], max[2], pos[2]; /* ABS_X, ABS_Y */
        bool tap;                       /* BTN_LEFT or BTN_TOUCH went down in the current frame */
        size_t partial;                 /* bytes of a record that a fifo delivered in part */
        uint8_t buf[sizeof(struct input_event)];
} InputDevice;

typedef struct Font {
        unsigned width, height, count, pitch; /* pitch: bytes per glyph row; a glyph is 32 rows */
        uint8_t *data;                        /* NULL: text is drawn as nothing */
} Font;

struct Screen {
        bool devices;

        /* The framebuffer; fb == NULL: no display (fb_fd < 0) or one of a format not handled (bpp). */
        int fb_fd;
        uint8_t *fb;
        size_t fb_size;
        unsigned width, height, stride, xoffset, yoffset, bpp;
        struct fb_bitfield red, green, blue;
        int tty_fd;
        Font font;

        /* SCREEN drew: from then on the agent owns the display. */
        bool shown;
        uint32_t colour;
        char title[TITLE_MAX + 1], subtitle[TITLE_MAX + 1];

        int kmsg_fd;
        bool kmsg_device; /* /dev/kmsg: one record per read() */
        char kmsg_buf[KMSG_BUF + 1];
        size_t kmsg_len;
        char log[LOG_LINES][LOG_COLUMNS_MAX + 1];
        size_t log_next, log_count;
        bool log_dirty;
        uint64_t log_drawn_usec;

        int uevent_fd;
        InputDevice inputs[SCREEN_INPUTS_MAX];
        size_t n_inputs;
        bool shift[2];
        uint64_t keys, taps;
        int last_x, last_y;
        char text[TEXT_MAX];
        size_t text_len;
        bool keys_dirty;
        int tap_x[TAPS_SHOWN], tap_y[TAPS_SHOWN];
        size_t n_taps_shown;
};

/* --- framebuffer and drawing ------------------------------------------------------------------------- */

static bool bitfield_ok(const struct fb_bitfield *f) {
        return f->length >= 1 && f->length <= 8 && f->offset + f->length <= 32;
}

static uint32_t pixel(const Screen *s, uint32_t rgb) {
        uint32_t r = rgb >> 16 & 0xff, g = rgb >> 8 & 0xff, b = rgb & 0xff;

        return (r >> (8 - s->red.length)) << s->red.offset | (g >> (8 - s->green.length)) << s->green.offset |
                (b >> (8 - s->blue.length)) << s->blue.offset;
}

static void fill_rect(Screen *s, int x, int y, int w, int h, uint32_t px) {
        int x1 = MIN(x + w, (int) s->width), y1 = MIN(y + h, (int) s->height);

        x = MAX(x, 0);
        y = MAX(y, 0);
        for (int j = y; j < y1; j++) {
                uint32_t *row = (uint32_t *) (s->fb + (size_t) (s->yoffset + j) * s->stride) + s->xoffset;

                for (int i = x; i < x1; i++)
                        row[i] = px;
        }
}

static void draw_glyph(Screen *s, int x, int y, unsigned char c, unsigned scale, uint32_t px) {
        const uint8_t *g;

        if (!s->font.data || c >= s->font.count)
                return;
        g = s->font.data + (size_t) c * FONT_SIDE_MAX * s->font.pitch;
        for (unsigned row = 0; row < s->font.height; row++)
                for (unsigned col = 0; col < s->font.width; col++)
                        if (g[row * s->font.pitch + col / 8] & (0x80 >> (col % 8)))
                                fill_rect(
                                        s,
                                        x + (int) (col * scale),
                                        y + (int) (row * scale),
                                        (int) scale,
                                        (int) scale,
                                        px);
}

static void draw_text(Screen *s, int x, int y, const char *t, size_t n, unsigned scale, uint32_t px) {
        for (size_t i = 0; i < n; i++)
                draw_glyph(s, x + (int) (i * s->font.width * scale), y, (unsigned char) t[i], scale, px);
}

/* Where things go: a band of a fifth of the height on top, then the keys line and the log in small text. */
typedef struct Layout {
        unsigned band, pad, small, line, keys_y, log_y, log_rows, columns;
} Layout;

static Layout layout(const Screen *s) {
        Layout l = {
                .band = s->height / 5,
                .pad = MAX(2U, s->width / 90),
                .small = MAX(1U, s->width / 720),
        };

        l.line = s->font.height * l.small;
        l.keys_y = l.band + l.pad;
        l.log_y = l.keys_y + l.line + l.pad;
        l.log_rows = s->height > l.log_y + l.pad ? (s->height - l.log_y - l.pad) / l.line : 0;
        l.columns = s->width > 2 * l.pad ? (s->width - 2 * l.pad) / (s->font.width * l.small) : 0;
        return l;
}

/* The largest scale up to want at which n glyphs fit into w pixels (at least 1). */
static unsigned fit_scale(const Screen *s, unsigned want, size_t n, unsigned w) {
        unsigned fit = n > 0 ? w / (unsigned) (n * s->font.width) : want;

        return MAX(1U, MIN(want, fit));
}

static void draw_taps(Screen *s) {
        unsigned arm = MAX(5U, s->width / 72), thick = 1 + 2 * MAX(1U, s->width / 720);

        for (size_t i = 0; i < s->n_taps_shown; i++) {
                fill_rect(
                        s,
                        s->tap_x[i] - (int) arm,
                        s->tap_y[i] - (int) thick / 2,
                        (int) (2 * arm + 1),
                        (int) thick,
                        pixel(s, COLOUR_TAP));
                fill_rect(
                        s,
                        s->tap_x[i] - (int) thick / 2,
                        s->tap_y[i] - (int) arm,
                        (int) thick,
                        (int) (2 * arm + 1),
                        pixel(s, COLOUR_TAP));
        }
}

static void draw_band(Screen *s) {
        Layout l = layout(s);
        size_t tn = strlen(s->title), sn = strlen(s->subtitle);
        unsigned room = s->width > 2 * l.pad ? s->width - 2 * l.pad : s->width, ts, ss = 0, gap = 0, h;
        /* Black on a light band, white on a dark one (ITU-R BT.601 luma). */
        uint32_t r = s->colour >> 16 & 0xff, g = s->colour >> 8 & 0xff, b = s->colour & 0xff;
        uint32_t fg = 299 * r + 587 * g + 114 * b >= 128 * 1000 ? 0x000000 : 0xffffff;

        fill_rect(s, 0, 0, (int) s->width, (int) l.band, pixel(s, s->colour));

        /* A tenth of the width per glyph, less if the title is long or the band low. */
        ts = fit_scale(s, MAX(1U, s->width / (10 * s->font.width)), tn, room);
        for (;;) {
                if (sn > 0) {
                        ss = fit_scale(s, MAX(1U, ts / 3), sn, room);
                        gap = s->font.height * ss / 2;
                }
                h = s->font.height * ts + (sn > 0 ? gap + s->font.height * ss : 0);
                if (ts == 1 || h + 2 * l.pad <= l.band)
                        break;
                ts--;
        }
        {
                int y = h < l.band ? (int) (l.band - h) / 2 : 0;

                draw_text(
                        s,
                        ((int) s->width - (int) (tn * s->font.width * ts)) / 2,
                        y,
                        s->title,
                        tn,
                        ts,
                        pixel(s, fg));
                if (sn > 0)
                        draw_text(
                                s,
                                ((int) s->width - (int) (sn * s->font.width * ss)) / 2,
                                y + (int) (s->font.height * ts + gap),
                                s->subtitle,
                                sn,
                                ss,
                                pixel(s, fg));
        }
}

static void draw_keys(Screen *s) {
        Layout l = layout(s);
        char line[6 + KEYS_SHOWN];
        size_t n, shown;

        fill_rect(s, 0, (int) l.keys_y, (int) s->width, (int) l.line, pixel(s, COLOUR_BACKGROUND));
        if (l.columns <= 6)
                return;
        shown = MIN(s->text_len, MIN((size_t) KEYS_SHOWN, (size_t) l.columns - 6));
        memcpy(line, "keys: ", 6);
        for (size_t i = 0; i < shown; i++) {
                char c = s->text[s->text_len - shown + i];
                line[6 + i] = c == '\n' ? GLYPH_ENTER : c;
        }
        n = 6 + shown;
        draw_text(s, (int) l.pad, (int) l.keys_y, line, n, l.small, pixel(s, COLOUR_KEYS));
}

static void draw_log(Screen *s) {
        Layout l = layout(s);
        size_t rows = MIN((size_t) l.log_rows, s->log_count);

        fill_rect(
                s,
                0,
                (int) l.log_y,
                (int) s->width,
                (int) (s->height - MIN(s->height, l.log_y)),
                pixel(s, COLOUR_BACKGROUND));
        /* The newest line at the bottom of what fits. */
        for (size_t i = 0; i < rows; i++) {
                const char *t = s->log[(s->log_next + LOG_LINES - rows + i) % LOG_LINES];

                draw_text(
                        s,
                        (int) l.pad,
                        (int) (l.log_y + i * l.line),
                        t,
                        MIN(strlen(t), (size_t) l.columns),
                        l.small,
                        pixel(s, COLOUR_LOG));
        }
        s->log_dirty = false;
        s->log_drawn_usec = now_usec(CLOCK_MONOTONIC);
}

/* The fbdev emulation of a DRM driver (virtio-gpu) copies what was written through the mapping to the
 * display some time later (deferred I/O, 50 ms); fsync() starts that at once, so that a host that got the
 * answer to SCREEN sees the screen a moment later. Live updates need no hurry. */
static void draw_all(Screen *s) {
        Layout l = layout(s);

        draw_band(s);
        fill_rect(s, 0, (int) l.band, (int) s->width, (int) (s->height - l.band), pixel(s, COLOUR_BACKGROUND));
        draw_keys(s);
        draw_log(s);
        draw_taps(s);
        s->keys_dirty = false;
        if (s->devices)
                (void) fsync(s->fb_fd);
}

/* --- opening things ---------------------------------------------------------------------------------- */

static int fb_open_file(Screen *s, const char *path, unsigned width, unsigned height) {
        _cleanup_close_ int fd = -EBADF;
        size_t size = (size_t) width * height * 4;
        struct stat st;
        void *p;

        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size < size)
                return -EINVAL;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        s->fb = p;
        s->fb_size = size;
        s->width = width;
        s->height = height;
        s->stride = width * 4;
        s->bpp = 32;
        s->red = (struct fb_bitfield){ .offset = 16, .length = 8 };
        s->green = (struct fb_bitfield){ .offset = 8, .length = 8 };
        s->blue = (struct fb_bitfield){ .offset = 0, .length = 8 };
        s->fb_fd = TAKE_FD(fd);
        return 0;
}

/* /dev/fb0 as it is set up (the fbdev emulation of the DRM driver). Without one: no display, no error. A
 * format other than 32 bits per pixel keeps the fd, so that SCREEN can say what it found. */
static int fb_open_device(Screen *s) {
        _cleanup_close_ int fd = -EBADF;
        struct fb_var_screeninfo var;
        struct fb_fix_screeninfo fix;
        void *p;

        fd = open("/dev/fb0", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == ENODEV || errno == ENXIO ? 0 : -errno;
        if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0)
                return -errno;
        s->bpp = var.bits_per_pixel;
        s->fb_fd = TAKE_FD(fd);
        if (var.bits_per_pixel != 32 || !bitfield_ok(&var.red) || !bitfield_ok(&var.green) ||
            !bitfield_ok(&var.blue) || fix.line_length % 4 != 0 || var.xres == 0 || var.yres == 0 ||
            var.xres > SCREEN_SIDE_MAX || var.yres > SCREEN_SIDE_MAX ||
            (uint64_t) var.xoffset + var.xres > fix.line_length / 4 ||
            (uint64_t) (var.yoffset + var.yres) * fix.line_length > fix.smem_len)
                return 0;
        p = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fb_fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        s->fb = p;
        s->fb_size = fix.smem_len;
        s->width = var.xres;
        s->height = var.yres;
        s->stride = fix.line_length;
        s->xoffset = var.xoffset;
        s->yoffset = var.yoffset;
        s->red = var.red;
        s->green = var.green;
        s->blue = var.blue;
        return 0;
}

/* The console's font, from the kernel (fbcon's, 8x16 on Debian): the agent carries none of its own.
 * KD_FONT_OP_GET only works while the VT is in text mode, so this comes before KD_GRAPHICS. */
static void font_get(Screen *s) {
        struct console_font_op op = {
                .op = KD_FONT_OP_GET,
                .width = FONT_SIDE_MAX,
                .height = FONT_SIDE_MAX,
                .charcount = FONT_CHARS_MAX,
        };
        _cleanup_free_ uint8_t *data = NULL;

        data = calloc(FONT_CHARS_MAX, FONT_SIDE_MAX * FONT_SIDE_MAX / 8);
        if (!data)
                return;
        op.data = data;
        if (ioctl(s->tty_fd, KDFONTOP, &op) < 0 || op.width < 1 || op.width > FONT_SIDE_MAX ||
            op.height < 1 || op.height > FONT_SIDE_MAX || op.charcount < 1 || op.charcount > FONT_CHARS_MAX)
                return;
        s->font = (Font){
                .width = op.width,
                .height = op.height,
                .count = op.charcount,
                .pitch = (op.width + 7) / 8,
                .data = TAKE_PTR(data),
        };
}

static void input_close(Screen *s, size_t i) {
        safe_close(s->inputs[i].fd);
        memmove(s->inputs + i, s->inputs + i + 1, (s->n_inputs - i - 1) * sizeof(InputDevice));
        s->n_inputs--;
}

/* Takes fd on. Keeps keyboards and pointers (anything with keys or absolute axes). */
static int input_add(Screen *s, int fd) {
        unsigned long types = 0;
        struct input_absinfo abs;
        struct stat st;
        InputDevice *d;

        if (s->n_inputs >= SCREEN_INPUTS_MAX) {
                safe_close(fd);
                return -ENOSPC;
        }
        if (fstat(fd, &st) < 0) {
                safe_close(fd);
                return -errno;
        }
        if (S_ISCHR(st.st_mode)) {
                for (size_t i = 0; i < s->n_inputs; i++)
                        if (s->inputs[i].rdev == st.st_rdev) {
                                safe_close(fd);
                                return 0;
                        }
                if (ioctl(fd, EVIOCGBIT(0, sizeof(types)), &types) >= 0 &&
                    !(types & (1UL << EV_KEY | 1UL << EV_ABS))) {
                        safe_close(fd);
                        return 0;
                }
        }
        d = s->inputs + s->n_inputs++;
        *d = (InputDevice){ .fd = fd, .rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0 };
        for (int a = 0; a < 2; a++) {
                d->max[a] = ABS_DEFAULT_MAX;
                if (ioctl(fd, EVIOCGABS(a == 0 ? ABS_X : ABS_Y), &abs) >= 0 && abs.maximum > abs.minimum) {
                        d->min[a] = abs.minimum;
                        d->max[a] = abs.maximum;
                        d->pos[a] = abs.value;
                }
        }
        return 1;
}

/* Opens the event devices not open yet: at start, and when the kernel announces an input device. */
static void input_scan(Screen *s) {
        _cleanup_(closedirp) DIR *d = NULL;

        d = opendir(INPUT_DIR);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                int fd;

                if (strncmp(de->d_name, "event", 5) != 0)
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0)
                        (void) input_add(s, fd);
        }
}

int screen_new(const ScreenOptions *o, Screen **ret) {
        _cleanup_(screen_freep) Screen *s = NULL;
        int r;

        assert(o);
        assert(ret);

        s = calloc(1, sizeof(Screen));
        if (!s)
                return -ENOMEM;
        s->fb_fd = s->tty_fd = s->kmsg_fd = s->uevent_fd = -EBADF;
        s->last_x = s->last_y = -1;
        s->devices = o->devices;
        /* Layout needs a glyph size even when there is no font to draw with. */
        s->font = (Font){ .width = 8, .height = 16 };

        if (o->fb_path) {
                if (o->fb_width < 1 || o->fb_width > SCREEN_SIDE_MAX || o->fb_height < 1 ||
                    o->fb_height > SCREEN_SIDE_MAX)
                        return -EINVAL;
                r = fb_open_file(s, o->fb_path, o->fb_width, o->fb_height);
                if (r < 0)
                        return r;
        } else if (o->devices)
                (void) fb_open_device(s);

        STRV_FOREACH(p, o->input_paths) {
                int fd = open(*p, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

                if (fd < 0)
                        return -errno;
                r = input_add(s, fd);
                if (r < 0)
                        return r;
        }
        if (o->devices) {
                struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };

                /* Subscribed before the scan: a device that appears in between is not missed. */
                s->uevent_fd = socket(
                        AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
                if (s->uevent_fd >= 0 && bind(s->uevent_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        s->uevent_fd = safe_close(s->uevent_fd);
                input_scan(s);
        }

        if (o->kmsg_path || o->devices) {
                s->kmsg_fd = open(o->kmsg_path ?: "/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (s->kmsg_fd < 0 && o->kmsg_path)
                        return -errno;
                s->kmsg_device = !o->kmsg_path;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

Screen *screen_free(Screen *s) {
        if (!s)
                return NULL;
        if (s->fb)
                (void) munmap(s->fb, s->fb_size);
        safe_close(s->fb_fd);
        safe_close(s->tty_fd);
        safe_close(s->kmsg_fd);
        safe_close(s->uevent_fd);
        for (size_t i = 0; i < s->n_inputs; i++)
                safe_close(s->inputs[i].fd);
        free(s->font.data);
        return mfree(s);
}

/* --- what arrives ------------------------------------------------------------------------------------ */

/* A US layout: what a key gives without and with shift (0: nothing). */
static char key_char(unsigned code, bool shift) {
        static const char plain[KEY_SPACE + 1] = {
                [KEY_1] = '1',      [KEY_2] = '2',          [KEY_3] = '3',         [KEY_4] = '4',
                [KEY_5] = '5',      [KEY_6] = '6',          [KEY_7] = '7',         [KEY_8] = '8',
                [KEY_9] = '9',      [KEY_0] = '0',          [KEY_MINUS] = '-',     [KEY_EQUAL] = '=',
                [KEY_Q] = 'q',      [KEY_W] = 'w',          [KEY_E] = 'e',         [KEY_R] = 'r',
                [KEY_T] = 't',      [KEY_Y] = 'y',          [KEY_U] = 'u',         [KEY_I] = 'i',
                [KEY_O] = 'o',      [KEY_P] = 'p',          [KEY_LEFTBRACE] = '[', [KEY_RIGHTBRACE] = ']',
                [KEY_ENTER] = '\n', [KEY_A] = 'a',          [KEY_S] = 's',         [KEY_D] = 'd',
                [KEY_F] = 'f',      [KEY_G] = 'g',          [KEY_H] = 'h',         [KEY_J] = 'j',
                [KEY_K] = 'k',      [KEY_L] = 'l',          [KEY_SEMICOLON] = ';', [KEY_APOSTROPHE] = '\'',
                [KEY_GRAVE] = '`',  [KEY_BACKSLASH] = '\\', [KEY_Z] = 'z',         [KEY_X] = 'x',
                [KEY_C] = 'c',      [KEY_V] = 'v',          [KEY_B] = 'b',         [KEY_N] = 'n',
                [KEY_M] = 'm',      [KEY_COMMA] = ',',      [KEY_DOT] = '.',       [KEY_SLASH] = '/',
                [KEY_SPACE] = ' ',
        };
        static const char shifted[] = "!@#$%^&*()_+";
        static const char punct[] = "-=[];'`\\,./", punct_shifted[] = "_+{}:\"~|<>?";
        char c;

        if (code >= ELEMENTSOF(plain) || !plain[code])
                return 0;
        c = plain[code];
        if (!shift)
                return c;
        if (c >= 'a' && c <= 'z')
                return (char) (c - 'a' + 'A');
        if (code >= KEY_1 && code <= KEY_EQUAL)
                return shifted[code - KEY_1];
        if (strchr(punct, c))
                return punct_shifted[strchr(punct, c) - punct];
        return c;
}

static void input_key(Screen *s, InputDevice *d, unsigned code, int32_t value) {
        char c;

        if (code == BTN_LEFT || code == BTN_TOUCH) {
                if (value == 1)
                        d->tap = true;
                return;
        }
        if (code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT) {
                if (value == 0 || value == 1)
                        s->shift[code == KEY_RIGHTSHIFT] = value == 1;
        }
        /* Presses only: not releases, not autorepeat. Buttons are not keys. */
        if (value != 1 || code >= BTN_MISC)
                return;
        s->keys++;
        c = key_char(code, s->shift[0] || s->shift[1]);
        if (!c)
                return;
        if (s->text_len == TEXT_MAX)
                memmove(s->text, s->text + 1, --s->text_len);
        s->text[s->text_len++] = c;
        s->keys_dirty = true;
}

static int abs_scale(const InputDevice *d, int a, unsigned side) {
        int64_t v = (int64_t) d->pos[a] - d->min[a], range = (int64_t) d->max[a] - d->min[a];

        if (range <= 0 || side == 0)
                return 0;
        v = v * (side - 1) / range;
        return (int) MAX((int64_t) 0, MIN(v, (int64_t) side - 1));
}

static void input_tap(Screen *s, InputDevice *d) {
        s->taps++;
        if (!s->fb)
                return;
        s->last_x = abs_scale(d, 0, s->width);
        s->last_y = abs_scale(d, 1, s->height);
        if (s->n_taps_shown == TAPS_SHOWN) {
                memmove(s->tap_x, s->tap_x + 1, (TAPS_SHOWN - 1) * sizeof(int));
                memmove(s->tap_y, s->tap_y + 1, (TAPS_SHOWN - 1) * sizeof(int));
                s->n_taps_shown--;
        }
        s->tap_x[s->n_taps_shown] = s->last_x;
        s->tap_y[s->n_taps_shown++] = s->last_y;
        if (s->shown)
                draw_taps(s);
}

static void input_event(Screen *s, InputDevice *d, const struct input_event *ev) {
        switch (ev->type) {
        case EV_KEY:
                input_key(s, d, ev->code, ev->value);
                break;
        case EV_ABS:
                if (ev->code == ABS_X || ev->code == ABS_Y)
                        d->pos[ev->code == ABS_Y] = ev->value;
                break;
        case EV_SYN:
                /* A frame is complete: its position belongs to its button press, in whatever order. */
                if (ev->code == SYN_REPORT && d->tap) {
                        d->tap = false;
                        input_tap(s, d);
                }
                break;
        }
}

/* Reads at most INPUT_EVENTS_PER_ROUND events: 1 if more may be waiting, 0 if none are, -ENODEV when the
 * device is gone (removed, or a test's file at its end). */
static int input_read(Screen *s, InputDevice *d) {
        for (unsigned n = 0; n < INPUT_EVENTS_PER_ROUND;) {
                struct input_event evs[16];
                uint8_t *b = (uint8_t *) evs;
                ssize_t k;

                memcpy(b, d->buf, d->partial);
                k = read(d->fd, b + d->partial, sizeof(evs) - d->partial);
                if (k < 0)
                        return IN_SET(errno, EAGAIN, EINTR) ? 0 : -ENODEV;
                if (k == 0)
                        return -ENODEV;
                k += (ssize_t) d->partial;
                for (size_t i = 0; i < (size_t) k / sizeof(struct input_event); i++, n++)
                        input_event(s, d, evs + i);
                d->partial = (size_t) k % sizeof(struct input_event);
                memcpy(d->buf, b + k - d->partial, d->partial);
        }
        return 1;
}

/* Before INPUT answers: what the devices hold by now, so that the answer covers the events that came
 * before the line (screen_process() reads a bounded share per round). Bounded too. */
static void inputs_catch_up(Screen *s) {
        for (size_t j = 0; j < s->n_inputs;) {
                int r = 1;

                for (unsigned k = 0; r > 0 && k < INPUT_CATCH_UP_ROUNDS; k++)
                        r = input_read(s, s->inputs + j);
                if (r < 0)
                        input_close(s, j);
                else
                        j++;
        }
}

static void log_add(Screen *s, const char *t, size_t n) {
        char *l = s->log[s->log_next];

        n = MIN(n, (size_t) LOG_COLUMNS_MAX);
        for (size_t i = 0; i < n; i++)
                l[i] = t[i] >= 0x20 && t[i] < 0x7f ? t[i] : '?';
        l[n] = '\0';
        s->log_next = (s->log_next + 1) % LOG_LINES;
        s->log_count = MIN(s->log_count + 1, (size_t) LOG_LINES);
        s->log_dirty = true;
}

/* One line of /dev/kmsg's format: "<prio>,<seq>,<usec>,<flags>;<text>"; continuation lines (" KEY=value")
 * are not text. */
static void kmsg_line(Screen *s, const char *l, size_t n) {
        const char *semi;

        if (n == 0 || l[0] == ' ')
                return;
        semi = memchr(l, ';', n);
        if (semi) {
                n -= (size_t) (semi + 1 - l);
                l = semi + 1;
        }
        log_add(s, l, n);
}

static void kmsg_read(Screen *s) {
        for (unsigned n = 0; n < KMSG_RECORDS_PER_ROUND; n++) {
                ssize_t k;
                char *p, *nl;

                /* /dev/kmsg gives one whole record per read() and wants room for the longest. */
                k = read(s->kmsg_fd, s->kmsg_buf + s->kmsg_len, KMSG_BUF - s->kmsg_len);
                if (k < 0) {
                        if (errno == EPIPE) /* records were overwritten before we read them */
                                continue;
                        if (errno != EAGAIN && errno != EINTR)
                                s->kmsg_fd = safe_close(s->kmsg_fd);
                        return;
                }
                if (k == 0) {
                        s->kmsg_fd = safe_close(s->kmsg_fd);
                        return;
                }
                s->kmsg_len += (size_t) k;
                if (s->kmsg_device && s->kmsg_buf[s->kmsg_len - 1] != '\n')
                        s->kmsg_buf[s->kmsg_len++] = '\n';
                for (p = s->kmsg_buf; (nl = memchr(p, '\n', s->kmsg_len - (size_t) (p - s->kmsg_buf)));
                     p = nl + 1)
                        kmsg_line(s, p, (size_t) (nl - p));
                s->kmsg_len -= (size_t) (p - s->kmsg_buf);
                memmove(s->kmsg_buf, p, s->kmsg_len);
                /* A line longer than the buffer: dropped. */
                if (s->kmsg_len == KMSG_BUF)
                        s->kmsg_len = 0;
        }
}

static void uevent_read(Screen *s) {
        static const char key[] = "SUBSYSTEM=input";
        bool rescan = false;

        for (unsigned n = 0; n < UEVENTS_PER_ROUND; n++) {
                char buf[4096];
                ssize_t k = recv(s->uevent_fd, buf, sizeof(buf), 0);

                if (k <= 0)
                        break;
                if (memmem(buf, (size_t) k, key, sizeof(key)))
                        rescan = true;
        }
        if (rescan)
                input_scan(s);
}

/* What changed since the last time: the keys line at once, the log at most every LOG_REDRAW_USEC. */
static void redraw(Screen *s) {
        if (!s->shown)
                return;
        if (s->keys_dirty) {
                draw_keys(s);
                draw_taps(s);
                s->keys_dirty = false;
        }
        if (s->log_dirty && screen_poll_timeout(s) == 0) {
                draw_log(s);
                draw_taps(s);
        }
}

size_t screen_fill_pollfds(Screen *s, struct pollfd *p, size_t n) {
        size_t k = 0;

        if (!s)
                return 0;
        if (s->kmsg_fd >= 0 && k < n)
                p[k++] = (struct pollfd){ .fd = s->kmsg_fd, .events = POLLIN };
        if (s->uevent_fd >= 0 && k < n)
                p[k++] = (struct pollfd){ .fd = s->uevent_fd, .events = POLLIN };
        for (size_t i = 0; i < s->n_inputs && k < n; i++)
                p[k++] = (struct pollfd){ .fd = s->inputs[i].fd, .events = POLLIN };
        return k;
}

int screen_poll_timeout(Screen *s) {
        uint64_t now, due;

        if (!s || !s->shown || !s->log_dirty)
                return -1;
        now = now_usec(CLOCK_MONOTONIC);
        due = s->log_drawn_usec + LOG_REDRAW_USEC;
        return now >= due ? 0 : (int) ((due - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

void screen_process(Screen *s, const struct pollfd *p, size_t n) {
        if (!s)
                return;
        for (size_t i = 0; i < n; i++) {
                if (p[i].revents == 0)
                        continue;
                if (p[i].fd == s->kmsg_fd)
                        kmsg_read(s);
                else if (p[i].fd == s->uevent_fd)
                        uevent_read(s);
                else
                        for (size_t j = 0; j < s->n_inputs; j++)
                                if (s->inputs[j].fd == p[i].fd) {
                                        if (input_read(s, s->inputs + j) < 0)
                                                input_close(s, j);
                                        break;
                                }
        }
        redraw(s);
}

/* --- commands ---------------------------------------------------------------------------------------- */

static bool word_ok(const char *w) {
        size_t n = strlen(w);

        if (n < 1 || n > TITLE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (w[i] <= 0x20 || w[i] >= 0x7f)
                        return false;
        return true;
}

void screen_command_screen(Screen *s, const char *arg, char *ret, size_t size) {
        char buf[256], *words[4] = {}, *p;
        size_t n = 0;
        uint8_t rgb[3];

        assert(s);
        if (!arg || strlen(arg) >= sizeof(buf)) {
                (void) snprintf(ret, size, "ERR SCREEN takes <rrggbb> <title> [<subtitle>]");
                return;
        }
        strcpy(buf, arg);
        /* Words are separated by one space: an empty word is a malformed argument. */
        for (p = buf; n < ELEMENTSOF(words); n++) {
                words[n] = p;
                p = strchr(p, ' ');
                if (!p) {
                        n++;
                        break;
                }
                *p++ = '\0';
        }
        if (n < 2 || n > 3 || p) {
                (void) snprintf(ret, size, "ERR SCREEN takes <rrggbb> <title> [<subtitle>]");
                return;
        }
        if (strlen(words[0]) != 6 || unhexmem(words[0], rgb, sizeof(rgb)) != 3) {
                (void) snprintf(ret, size, "ERR SCREEN colour must be 6 hex digits (rrggbb)");
                return;
        }
        if (!word_ok(words[1])) {
                (void) snprintf(
                        ret,
                        size,
                        "ERR SCREEN title must be 1 to %u printable ASCII characters without spaces",
                        TITLE_MAX);
                return;
        }
        if (n == 3 && !word_ok(words[2])) {
                (void) snprintf(
                        ret,
                        size,
                        "ERR SCREEN subtitle must be 1 to %u printable ASCII characters without spaces",
                        TITLE_MAX);
                return;
        }

        /* The display may have come up after the agent started. */
        if (s->fb_fd < 0 && s->devices)
                (void) fb_open_device(s);
        if (s->fb_fd < 0) {
                (void) snprintf(ret, size, "ERR no display");
                return;
        }
        if (!s->fb) {
                (void) snprintf(ret, size, "ERR display format not supported: %u bits per pixel", s->bpp);
                return;
        }

        if (!s->shown && s->devices) {
                /* fbcon stops drawing on a VT in graphics mode: the screen is the agent's from now on. */
                s->tty_fd = open("/dev/tty0", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (s->tty_fd >= 0) {
                        font_get(s);
                        if (ioctl(s->tty_fd, KDSETMODE, KD_GRAPHICS) < 0)
                                fprintf(stderr, "vmmd-agent: KDSETMODE on /dev/tty0 failed, ignoring: %m\n");
                } else
                        fprintf(stderr, "vmmd-agent: cannot open /dev/tty0, ignoring: %m\n");
        }
        s->shown = true;
        s->colour = (uint32_t) rgb[0] << 16 | (uint32_t) rgb[1] << 8 | rgb[2];
        strcpy(s->title, words[1]);
        strcpy(s->subtitle, n == 3 ? words[2] : "");
        draw_all(s);
        (void) snprintf(ret, size, "OK SCREEN %ux%u", s->width, s->height);
}

void screen_command_input(Screen *s, const char *arg, char *ret, size_t size) {
        char hex[2 * TEXT_MAX + 1];

        assert(s);
        inputs_catch_up(s);
        redraw(s);
        if (!arg) {
                hexmem(s->text, s->text_len, hex);
                (void) snprintf(
                        ret,
                        size,
                        "INPUT keys=%" PRIu64 " text=%s taps=%" PRIu64 " last=%d,%d",
                        s->keys,
                        hex,
                        s->taps,
                        s->last_x,
                        s->last_y);
                return;
        }
        if (!streq(arg, "CLEAR")) {
                (void) snprintf(ret, size, "ERR INPUT takes nothing or CLEAR");
                return;
        }
        s->keys = s->taps = 0;
        s->text_len = 0;
        s->last_x = s->last_y = -1;
        s->n_taps_shown = 0;
        if (s->shown)
                draw_all(s);
        (void) snprintf(ret, size, "OK INPUT");
}
