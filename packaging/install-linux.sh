#!/usr/bin/env bash
# Install (or --uninstall) the Linux bundle for the current user: no root, nothing outside ~/.local.
#
#   packaging/install-linux.sh [BUNDLE_DIR]      # default: dist/soundfinder
#   packaging/install-linux.sh --uninstall
#
# Copies the bundle to ~/.local/opt/soundfinder, links ~/.local/bin/soundfinder, and adds the
# menu entry (resources/linux/soundfinder.desktop, with Exec set to the installed path) and the
# icon to the XDG locations. Set PREFIX to install elsewhere (e.g. PREFIX=/usr/local, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-$HOME/.local}
APP=$PREFIX/opt/soundfinder
BIN=$PREFIX/bin/soundfinder
DESKTOP=$PREFIX/share/applications/soundfinder.desktop
ICONS=$PREFIX/share/icons/hicolor

refresh() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$PREFIX/share/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$APP" "$DESKTOP" "$ICONS/256x256/apps/soundfinder.png" "$ICONS/64x64/apps/soundfinder.png" \
        "$ICONS/scalable/apps/soundfinder.svg"
    [ -L "$BIN" ] && rm -f "$BIN"
    refresh
    echo "soundfinder removed from $PREFIX (your libraries and settings are kept)"
    exit 0
fi

SRC=${1:-dist/soundfinder}
if [ ! -x "$SRC/soundfinder" ]; then
    echo "install-linux.sh: no bundle at $SRC (run packaging/build.sh first)" >&2
    exit 2
fi
mkdir -p "$PREFIX/opt" "$PREFIX/bin" "$(dirname "$DESKTOP")"
rm -rf "$APP.new"
cp -a "$SRC" "$APP.new"
rm -rf "$APP"
mv "$APP.new" "$APP"
ln -sfn "$APP/soundfinder" "$BIN"
sed -e "s|^Exec=soundfinder|Exec=$APP/soundfinder|" -e "s|^TryExec=soundfinder|TryExec=$APP/soundfinder|" \
    resources/linux/soundfinder.desktop > "$DESKTOP"
for size in 256 64; do
    if [ -f "resources/icons/soundfinder-$size.png" ]; then
        mkdir -p "$ICONS/${size}x${size}/apps"
        cp "resources/icons/soundfinder-$size.png" "$ICONS/${size}x${size}/apps/soundfinder.png"
    fi
done
if [ -f resources/icons/soundfinder.svg ]; then
    mkdir -p "$ICONS/scalable/apps"
    cp resources/icons/soundfinder.svg "$ICONS/scalable/apps/soundfinder.svg"
fi
refresh
echo "installed $APP; run 'soundfinder' (or find it in the applications menu)"
[ -x "$BIN" ] && case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: $PREFIX/bin is not on PATH" ;; esac
