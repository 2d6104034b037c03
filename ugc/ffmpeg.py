"""Safe handling of UGC video: probe, check and transcode with ffmpeg (Debian's package).

Uploaded video is hostile input, handled the way `core.images` handles pictures:

- Its type is sniffed from its first bytes (never its name), and ffprobe/ffmpeg are then told
  which demuxer to use (`-f mov` or `-f matroska`), so a file cannot talk ffmpeg into a
  playlist, concat or image demuxer that would read other files or URLs. Inputs are opened
  through the `file` protocol only (`-protocol_whitelist file`).
- Its size, length, dimensions and aspect ratio are checked from the probe before anything
  is decoded, and every ffmpeg run is bounded in time (`timeout`) and in output length (`-t`).
- Nothing is passed through: renditions are re-encoded (H.264 + AAC in MP4) with all
  container and stream metadata dropped (`-map_metadata -1`), so GPS tags from phones go;
  the poster is a re-encoded JPEG with no metadata.

ffmpeg runs as a subprocess with a list of arguments (never a shell), `-nostdin`, and the
paths prefixed with `file:` so a name can never be read as an option or a protocol.
"""

import json
import logging
import os
import shutil
import subprocess  # noqa: S404 - ffmpeg is run with list arguments, never a shell
from dataclasses import dataclass

from django.conf import settings

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

FFPROBE = "ffprobe"
FFMPEG = "ffmpeg"
PROBE_TIMEOUT_S = 30
SNIFF_BYTES = 4096

# Defaults for the limits read from settings when the call does not give them.
DEFAULT_MAX_SECONDS = 180
DEFAULT_MIN_SIDE = 360
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_PIXELS = 4096 * 4096  # a frame-size bomb is refused before decoding
DEFAULT_FFMPEG_TIMEOUT_S = 600  # per ffmpeg run

# Aspect ratio (width / height) must lie between 9:21 and 21:9. Panels sold as "21:9" are
# 64:27 (2560x1080), 1.6 % wider, so the bounds allow 2 % either way.
MIN_ASPECT = 9 / 21
MAX_ASPECT = 21 / 9
ASPECT_TOLERANCE = 0.02

POSTER_MAX_WIDTH = 1080
POSTER_NAME = "poster.jpg"
# (name, short side in pixels). The first rung is always made; the others only when the
# source is at least that sharp (never upscaled), so 1080p exists where the source allows.
RENDITIONS = (("360p", 360), ("720p", 720), ("1080p", 1080))
# Every rendition gets a keyframe every KEYFRAME_SECONDS (and none at scene cuts), so the HLS
# segments of all rungs start at the same instants and a player can switch between them.
KEYFRAME_SECONDS = 2
HLS_DIR = "hls"
HLS_MASTER = "master.m3u8"
HLS_SEGMENT_SECONDS = 4  # a multiple of KEYFRAME_SECONDS
# The muted loop shown in grids and cards: the first seconds, small and silent.
PREVIEW_NAME = "preview.mp4"
PREVIEW_SECONDS = 3
PREVIEW_SHORT_SIDE = 360
# A rendition shorter than this share of the source means the input ended early (truncated).
MIN_OUTPUT_DURATION_RATIO = 0.9

# ISO base media ("ftyp") major brands. QuickTime is "qt  "; the rest are MP4 and its kin.
MOV_BRANDS = {b"qt  "}
MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9",
    b"mp41", b"mp42", b"avc1", b"dash", b"mmp4", b"MSNV", b"XAVC", b"f4v ",
    b"M4V ", b"M4VH", b"M4VP", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"3ge6", b"3gs7",
}  # fmt: skip
# ISO base media files that are pictures, not video (HEIF/HEIC/AVIF stills).
IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_DOCTYPE_ID = b"\x42\x82"

# sniff_video() result -> the ffmpeg demuxer that must read it.
DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska"}


class MediaError(ApplicationError):
    """A media file was refused or could not be processed. `code` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int  # as displayed (rotation applied)
    height: int
    codec: str
    has_audio: bool
    container: str  # "mp4", "mov", "webm" or "mkv", from the file's bytes
    size_bytes: int = 0

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)


def _limit(name: str, default):
    return getattr(settings, name, default)


def sniff_video(head: bytes) -> str | None:
    """The container named by a file's first bytes: "mp4", "mov", "webm", "mkv" or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        major = head[8:12]
        if major in MOV_BRANDS:
            return "mov"
        if major in MP4_BRANDS:
            return "mp4"
        if major in IMAGE_BRANDS:
            return None
        # An unfamiliar major brand: accept it if it claims MP4 compatibility.
        box_size = int.from_bytes(head[0:4], "big")
        compatible = head[16 : min(box_size, len(head))]
        brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
        if brands & IMAGE_BRANDS:
            return None
        if brands & MP4_BRANDS:
            return "mp4"
        return None
    if head.startswith(EBML_MAGIC):
        # The EBML header names its DocType; a Matroska file without one is still Matroska.
        at = head.find(EBML_DOCTYPE_ID, 4, 64)
        if at != -1 and at + 3 <= len(head):
            size_byte = head[at + 2]
            if size_byte & 0x80:  # one-byte size, as every muxer writes it
                doctype = head[at + 3 : at + 3 + (size_byte & 0x7F)]
                if doctype == b"webm":
                    return "webm"
        return "mkv"
    return None


def _input_args(path: str, container: str) -> list[str]:
    """Open `path` as a local file with the demuxer its bytes call for, and nothing else."""
    return [
        "-protocol_whitelist",
        "file",
        "-f",
        DEMUXERS[container],
        "-i",
        "file:" + os.path.abspath(path),
    ]


def _run_ffprobe(path: str, container: str) -> dict:
    args = [
        FFPROBE,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        *_input_args(path, container),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary, list arguments, no shell
            args, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError("probe_failed", "Reading the video took too long.") from exc
    except OSError as exc:
        raise MediaError("probe_failed", f"ffprobe could not be run: {exc}.") from exc
    if done.returncode != 0:
        raise MediaError(
            "probe_failed",
            "The video could not be read (damaged or incomplete file): " + _tail(done.stderr, 200),
        )
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise MediaError("probe_failed", "ffprobe gave an unreadable answer.") from exc


def _tail(stderr: bytes, limit: int = 500) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    return text[-limit:] if len(text) > limit else text


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _hms(value) -> float | None:
    """Matroska's DURATION tag: "00:00:02.000000000"."""
    if not isinstance(value, str) or value.count(":") != 2:
        return None
    hours, minutes, seconds = value.split(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(_float(side["rotation"]) or 0)
    return int(_float((stream.get("tags") or {}).get("rotate")) or 0)


def probe_video(path: str) -> VideoInfo:
    """Sniff and probe a video file. Raises MediaError if it is not a readable video."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise MediaError("probe_failed", "The video file could not be opened.") from exc
    if not head:
        raise MediaError("not_video", "The file is empty.")
    container = sniff_video(head)
    if container is None:
        raise MediaError(
            "not_video", "The file is not a video (MP4, MOV, WebM or Matroska expected)."
        )
    data = _run_ffprobe(path, container)
    streams = data.get("streams") or []
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")  # cover art is not video
        ),
        None,
    )
    if video is None:
        raise MediaError("no_video_stream", "The file has no video track.")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width < 1 or height < 1:
        raise MediaError("probe_failed", "The video track does not say its frame size.")
    if abs(_rotation(video)) % 180 == 90:  # phones store portrait video turned on its side
        width, height = height, width
    fmt = data.get("format") or {}
    duration = (
        _float(fmt.get("duration"))
        or _float(video.get("duration"))
        or _hms((video.get("tags") or {}).get("DURATION"))
    )
    if not duration or duration <= 0:
        raise MediaError("no_duration", "The video does not say how long it is.")
    return VideoInfo(
        duration_s=duration,
        width=width,
        height=height,
        codec=str(video.get("codec_name") or "unknown"),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        container=container,
        size_bytes=size,
    )


def check_video(
    info: VideoInfo,
    *,
    max_duration_s: float | None = None,
    min_side: int | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> None:
    """Refuse a video that breaks the upload rules. Limits default to the settings."""
    if max_duration_s is None:
        max_duration_s = _limit("UGC_VIDEO_MAX_SECONDS", DEFAULT_MAX_SECONDS)
    if min_side is None:
        min_side = _limit("UGC_VIDEO_MIN_SIDE", DEFAULT_MIN_SIDE)
    if max_bytes is None:
        max_bytes = _limit("UGC_VIDEO_MAX_BYTES", DEFAULT_MAX_BYTES)
    if max_pixels is None:
        max_pixels = _limit("UGC_VIDEO_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    if info.size_bytes > max_bytes:
        raise MediaError(
            "too_large", f"The file is {info.size_bytes:,} bytes; the limit is {max_bytes:,}."
        )
    if info.duration_s > max_duration_s:
        raise MediaError(
            "too_long",
            f"The video is {info.duration_s:.1f} s long; the limit is {max_duration_s:g} s.",
        )
    if info.width * info.height > max_pixels:
        raise MediaError(
            "too_large",
            f"The video is {info.width}×{info.height} pixels; "
            f"the limit is {max_pixels:,} pixels a frame.",
        )
    if info.short_side < min_side:
        raise MediaError(
            "too_small",
            f"The video is {info.width}×{info.height}; its shorter side must be at least "
            f"{min_side} pixels.",
        )
    low, high = MIN_ASPECT * (1 - ASPECT_TOLERANCE), MAX_ASPECT * (1 + ASPECT_TOLERANCE)
    if not low <= info.aspect <= high:
        raise MediaError(
            "bad_aspect",
            f"The video is {info.width}×{info.height}; the aspect ratio must be between "
            "9:21 (tall) and 21:9 (wide).",
        )


def _ffmpeg(args: list[str], *, what: str) -> None:
    timeout = _limit("UGC_FFMPEG_TIMEOUT_SECONDS", DEFAULT_FFMPEG_TIMEOUT_S)
    command = [FFMPEG, "-nostdin", "-y", "-hide_banner", "-loglevel", "error", *args]
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary, list arguments, no shell
            command, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:  # run() has already killed ffmpeg
        raise MediaError("transcode_failed", f"Making the {what} took over {timeout} s.") from exc
    except OSError as exc:
        raise MediaError("transcode_failed", f"ffmpeg could not be run: {exc}.") from exc
    if done.returncode != 0:
        raise MediaError(
            "transcode_failed", f"Making the {what} failed: {_tail(done.stderr) or 'no output'}"
        )


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _make_poster(src: str, info: VideoInfo, out_path: str) -> None:
    scale = f"scale='min({POSTER_MAX_WIDTH},iw)':-2"
    for at in (min(1.0, info.duration_s * 0.1), 0.0):  # a late seek can miss; fall back to 0
        _ffmpeg(
            [
                "-ss",
                f"{at:.3f}",
                *_input_args(src, info.container),
                "-map",
                "0:v:0",
                "-frames:v",
                "1",
                "-vf",
                scale,
                "-c:v",
                "mjpeg",
                "-q:v",
                "3",
                "-map_metadata",
                "-1",
                "-flags",
                "+bitexact",  # no encoder comment in the JPEG
                "-f",
                "image2",
                "file:" + out_path,
            ],
            what="poster frame",
        )
        if os.path.exists(out_path) and os.path.getsize(out_path) > 0:
            return
    raise MediaError("transcode_failed", "Making the poster frame produced no image.")


def _make_rendition(src: str, info: VideoInfo, short: int, out_path: str) -> None:
    # The short side gets `short` pixels; the long side follows the aspect, rounded to even.
    scale = f"scale=-2:{short}" if info.width >= info.height else f"scale={short}:-2"
    audio = (
        ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2"] if info.has_audio else ["-an"]
    )
    max_seconds = _limit("UGC_VIDEO_MAX_SECONDS", DEFAULT_MAX_SECONDS)
    _ffmpeg(
        [
            *_input_args(src, info.container),
            "-map",
            "0:v:0",
            *audio,
            "-sn",
            "-dn",
            # A header can lie about the length; the output never runs past the limit.
            "-t",
            f"{max_seconds + 1:g}",
            "-vf",
            scale,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            "-force_key_frames",
            f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
            "-sc_threshold",
            "0",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            "file:" + out_path,
        ],
        what=f"{short}p rendition",
    )


# ---------------------------------------------------------------------------------------
# HLS: each rendition cut into MPEG-TS segments (no second encode: `-c copy`), one media
# playlist per rung and a master playlist naming the ladder with its measured bandwidth.
# ---------------------------------------------------------------------------------------

# H.264 profile names (ffprobe) -> the profile_idc and constraint bytes of an RFC 6381 codec.
AVC_PROFILES = {
    "Constrained Baseline": "42E0",
    "Baseline": "4200",
    "Main": "4D40",
    "High": "6400",
}
AAC_LC = "mp4a.40.2"


def _stream_codecs(path: str) -> str:
    """The CODECS attribute of a rendition (e.g. `avc1.64001f,mp4a.40.2`), from ffprobe."""
    data = _run_ffprobe(path, "mp4")
    codecs = []
    for stream in data.get("streams") or []:
        if stream.get("codec_type") == "video" and stream.get("codec_name") == "h264":
            profile = AVC_PROFILES.get(stream.get("profile") or "", "6400")
            level = int(_float(stream.get("level")) or 40)
            codecs.append(f"avc1.{profile}{level:02x}".lower())
        elif stream.get("codec_type") == "audio" and stream.get("codec_name") == "aac":
            codecs.append(AAC_LC)
    return ",".join(codecs)


def _segment_durations(playlist_path: str) -> list[tuple[float, str]]:
    """(duration, segment file) for each segment of a media playlist ffmpeg wrote."""
    segments, duration = [], None
    with open(playlist_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("#EXTINF:"):
                duration = _float(line[len("#EXTINF:") :].split(",")[0])
            elif line and not line.startswith("#"):
                segments.append((duration or 0.0, line))
                duration = None
    return segments


def _segment_rendition(rendition_path: str, label: str, hls_dir: str) -> dict:
    """Cut one rendition into segments and its media playlist; returns the variant's entry."""
    playlist = os.path.join(hls_dir, f"{label}.m3u8")
    _ffmpeg(
        [
            *_input_args(rendition_path, "mp4"),
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            str(HLS_SEGMENT_SECONDS),
            "-hls_playlist_type",
            "vod",
            "-hls_list_size",
            "0",
            "-hls_segment_type",
            "mpegts",
            "-hls_segment_filename",
            "file:" + os.path.join(hls_dir, f"{label}_%03d.ts"),
            "file:" + playlist,
        ],
        what=f"{label} HLS segments",
    )
    segments = _segment_durations(playlist)
    if not segments or any("/" in name or name.startswith(".") for _, name in segments):
        raise MediaError("transcode_failed", f"The {label} HLS playlist lists no usable segment.")
    sizes = [os.path.getsize(os.path.join(hls_dir, name)) for _, name in segments]
    total_s = sum(duration for duration, _ in segments) or 1.0
    # BANDWIDTH is the peak segment bit rate (RFC 8216 4.3.4.2); AVERAGE-BANDWIDTH the mean.
    rates = [
        size * 8 / max(duration, 0.1) for (duration, _), size in zip(segments, sizes, strict=True)
    ]
    peak = max(rates)
    return {
        "label": label,
        "playlist": f"{label}.m3u8",
        "segments": [name for _, name in segments],
        "bandwidth": int(peak) + 1,
        "average_bandwidth": int(sum(sizes) * 8 / total_s) + 1,
        "codecs": _stream_codecs(rendition_path),
    }


def master_playlist(variants: list[dict]) -> str:
    """The master playlist: one EXT-X-STREAM-INF per rung, smallest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for variant in sorted(variants, key=lambda v: v["bandwidth"]):
        attributes = [
            f"BANDWIDTH={variant['bandwidth']}",
            f"AVERAGE-BANDWIDTH={variant['average_bandwidth']}",
            f"RESOLUTION={variant['width']}x{variant['height']}",
        ]
        if variant.get("codecs"):
            attributes.append(f'CODECS="{variant["codecs"]}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), variant["playlist"]]
    return "\n".join(lines) + "\n"


def make_hls(renditions: list[dict], *, out_dir: str) -> dict:
    """Segment the renditions made in `out_dir` into `out_dir/hls/` with a master playlist."""
    hls_dir = os.path.join(out_dir, HLS_DIR)
    os.makedirs(hls_dir, exist_ok=True)
    variants = []
    for rendition in renditions:
        variant = _segment_rendition(
            os.path.join(out_dir, rendition["file"]), rendition["name"], hls_dir
        )
        variant.update(width=rendition["width"], height=rendition["height"])
        variants.append(variant)
    with open(os.path.join(hls_dir, HLS_MASTER), "w", encoding="utf-8") as handle:
        handle.write(master_playlist(variants))
    return {"dir": HLS_DIR, "master": HLS_MASTER, "variants": variants}


def make_preview(src: str, info: VideoInfo, out_path: str) -> dict:
    """The 3-second muted loop for grids and cards: the first seconds, 360p, no sound."""
    short = _even(min(PREVIEW_SHORT_SIDE, info.short_side))
    scale = f"scale=-2:{short}" if info.width >= info.height else f"scale={short}:-2"
    _ffmpeg(
        [
            *_input_args(src, info.container),
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-t",
            f"{PREVIEW_SECONDS:g}",
            "-vf",
            scale,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            "file:" + out_path,
        ],
        what="preview loop",
    )
    out = probe_video(out_path)
    return {
        "file": PREVIEW_NAME,
        "width": out.width,
        "height": out.height,
        "duration_s": round(out.duration_s, 3),
        "bytes": out.size_bytes,
    }


def process_video(path: str, *, out_dir: str) -> dict:
    """Check a video and write its poster, renditions, HLS ladder and preview into `out_dir`.

    Returns the media manifest (file names relative to `out_dir`). On any failure the files
    made so far are removed and MediaError is raised.
    """
    info = probe_video(path)
    check_video(info)
    os.makedirs(out_dir, exist_ok=True)
    made: list[str] = []
    try:
        poster = os.path.abspath(os.path.join(out_dir, POSTER_NAME))
        made.append(poster)
        _make_poster(path, info, poster)

        renditions = []
        for index, (name, short) in enumerate(RENDITIONS):
            if short > info.short_side and index > 0:
                continue  # never upscale; the first rung is always made
            target = _even(min(short, info.short_side))
            file_name = f"{name}.mp4"
            out_path = os.path.abspath(os.path.join(out_dir, file_name))
            made.append(out_path)
            _make_rendition(path, info, target, out_path)
            try:
                out = probe_video(out_path)
            except MediaError as exc:
                raise MediaError(
                    "transcode_failed", f"The {name} rendition is unreadable: {exc.message}"
                ) from exc
            if out.duration_s < info.duration_s * MIN_OUTPUT_DURATION_RATIO - 0.1:
                raise MediaError(
                    "transcode_failed",
                    f"The {name} rendition is {out.duration_s:.1f} s of a "
                    f"{info.duration_s:.1f} s video: the file is truncated or damaged.",
                )
            renditions.append(
                {
                    "name": name,
                    "file": file_name,
                    "width": out.width,
                    "height": out.height,
                    "bytes": out.size_bytes,
                }
            )
        hls = make_hls(renditions, out_dir=out_dir)
        preview_path = os.path.abspath(os.path.join(out_dir, PREVIEW_NAME))
        made.append(preview_path)
        preview = make_preview(path, info, preview_path)
    except BaseException:
        for file_path in made:
            try:
                os.remove(file_path)
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.join(out_dir, HLS_DIR), ignore_errors=True)
        raise

    logger.info(
        "ugc.video.processed",
        extra={
            "duration_s": info.duration_s,
            "width": info.width,
            "height": info.height,
            "renditions": [r["name"] for r in renditions],
        },
    )
    return {
        "status": "ready",
        "type": "video",
        "duration_s": round(info.duration_s, 3),
        "width": info.width,
        "height": info.height,
        "aspect": round(info.aspect, 4),
        "poster": POSTER_NAME,
        "renditions": renditions,
        "hls": hls,
        "preview": preview,
    }
