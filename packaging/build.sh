#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/soundfinder/ with PyInstaller, then self-test it.
#
#   packaging/build.sh                 # from the repository root or anywhere
#
# Environment:
#   SOUNDFINDER_PYTHON  the Python whose environment holds soundfinder's dependencies (torch,
#                       transformers, PySide6, ...). Default: the active virtualenv, else .venv/,
#                       else (a clean checkout) build/app-venv, created here with
#   PYTHON              the interpreter for build/app-venv (default python3; 3.11 or newer)
#   TORCH_INDEX_URL     an extra index for torch, e.g. https://download.pytorch.org/whl/cpu
#                       (a CPU-only torch keeps the Linux bundle small; PyPI's Linux torch is CUDA)
#   TORCH_VERSION       pin torch (e.g. 2.13.0)
#   PYI_JOBS            cores PyInstaller's analysis may use (default: all; it is mostly serial).
#   SKIP_SELFTEST=1     do not run the bundle's self-test after building.
#
# The build runs in build/pyi-venv, a thin virtualenv layered over that environment (a .pth
# file adds its site-packages): it holds PyInstaller and a portable hnswlib compiled with
# HNSWLIB_NO_NATIVE=1. hnswlib's setup.py otherwise compiles with -march=native, and a bundle
# built that way dies with "Illegal instruction" on any CPU older than the build machine's.
# The layer leaves the development environment untouched and is reused by later builds
# (rm -r build/pyi-venv to recreate it).
set -euo pipefail

# The whole script is one function, read before it runs: editing this file during a build is safe.
main() {
    cd "$(dirname "$0")/.."
    ROOT=$PWD

    BASE_PY=${SOUNDFINDER_PYTHON:-}
    if [ -z "$BASE_PY" ]; then
        if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
            BASE_PY=$VIRTUAL_ENV/bin/python
        elif [ -x .venv/bin/python ]; then
            BASE_PY=$ROOT/.venv/bin/python
        else
            # A clean checkout: make the environment (once; build/ is git-ignored).
            BASE_PY=$ROOT/build/app-venv/bin/python
            if [ ! -f build/app-venv/.ready ]; then
                echo "== no environment: creating build/app-venv with soundfinder and its dependencies"
                rm -rf build/app-venv
                "${PYTHON:-python3}" -m venv build/app-venv
                HNSWLIB_NO_NATIVE=1 "$BASE_PY" -m pip install -q --disable-pip-version-check \
                    ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch${TORCH_VERSION:+==$TORCH_VERSION}" -e .
                touch build/app-venv/.ready
            fi
        fi
    fi
    if ! "$BASE_PY" -c "import soundfinder, torch, transformers, tokenizers, PySide6.QtMultimedia, hnswlib" 2>/dev/null; then
        echo "build.sh: $BASE_PY lacks soundfinder or one of its dependencies (pip install -e .)" >&2
        exit 2
    fi

    VENV=$ROOT/build/pyi-venv
    if [ "$(cat "$VENV/.ready" 2>/dev/null)" != "$BASE_PY" ]; then  # missing, or layered over another env
        echo "== build venv: $VENV (layered over $BASE_PY)"
        rm -rf "$VENV"
        "$BASE_PY" -m venv "$VENV"
        SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        "$BASE_PY" -c "import site, sys; open(sys.argv[1], 'w').writelines(f'import site; site.addsitedir({d!r})\n' for d in site.getsitepackages() if d.endswith('site-packages'))" \
            "$SITE/zz-soundfinder-base.pth"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "pyinstaller>=6"
        HNSW_VERSION=$("$BASE_PY" -c "import importlib.metadata as m; print(m.version('hnswlib'))")
        echo "== hnswlib $HNSW_VERSION compiled without -march=native (HNSWLIB_NO_NATIVE=1)"
        # --ignore-installed: install into the layer, never uninstall the base environment's copy.
        HNSWLIB_NO_NATIVE=1 "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
            --ignore-installed --no-cache-dir --no-binary hnswlib "hnswlib==$HNSW_VERSION"
        echo "$BASE_PY" > "$VENV/.ready"
    fi
    HNSW_SO=$("$VENV/bin/python" -c "import hnswlib; print(hnswlib.__file__)")
    case "$HNSW_SO" in
        "$VENV"/*) ;;
        *) echo "build.sh: the build venv picks up $HNSW_SO, not its own portable hnswlib" >&2; exit 1 ;;
    esac

    echo "== PyInstaller ($("$VENV/bin/python" -m PyInstaller --version)), soundfinder $("$VENV/bin/python" -c 'import soundfinder; print(soundfinder.__version__)')"
    start=$(date +%s)
    rm -rf dist/soundfinder
    "$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
        --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/soundfinder.spec
    end=$(date +%s)
    echo "== built dist/soundfinder in $((end - start)) s, $(du -sh dist/soundfinder | cut -f1)"

    EXE=dist/soundfinder/soundfinder
    [ "$(uname -s)" = Darwin ] && EXE=dist/soundfinder.app/Contents/MacOS/soundfinder
    if [ "${SKIP_SELFTEST:-0}" != 1 ]; then
        echo "== self-test with no Python environment: $EXE selftest"
        env -i PATH=/usr/bin:/bin HOME="$HOME" "$EXE" selftest
    fi
}

main "$@"
exit $?
