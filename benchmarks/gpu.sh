#!/usr/bin/env bash
# Every GPU figure SPEC.md asks, in one run on one NVIDIA GPU (each step bounded: at most 9.5 minutes plus start-up;
# 2 min 42 s on an H200 before the compiled training row): training steps/s at batch 16, 256 px, bf16 with its peak
# memory, as configured by default and as `train.py channels_last=true compile=true` runs it; stylize images/s at
# 1024 px, batch 8: bf16 eager and compiled, and the ONNX export on ONNX Runtime CUDA (fp32, when onnxruntime-gpu is
# installed); video frames/s at 1080p of the shipped model (checkpoints/ready12.pt) in bf16, one frame at a time as
# stylize.py paints 1080p clips, for each --temporal mode (the flow blend runs on the CPU), with its peak memory. Writes
# OUT/gpu.json and OUT/gpu.md (one markdown table for BENCHMARKS.md).
#
#   bash benchmarks/gpu.sh                  # on a GPU machine; OUT is benchmarks/results/gpu
#   bash benchmarks/gpu.sh --dry-run        # on the CPU at tiny sizes: checks that every step runs (seconds)
#   bash benchmarks/gpu.sh --out DIR
#
# Offline machines: the photos and paintings default to ../shared/assets when present, else demo/; the VGG
# weights to $NST_FF_VGG_WEIGHTS, else random weights (speed does not depend on them).
set -euo pipefail
vgg=${NST_FF_VGG_WEIGHTS:-random}
# A relative $NST_FF_VGG_WEIGHTS names a file from the caller's directory, as for every nst_ff command.
if [ -e "$vgg" ]; then vgg=$(realpath "$vgg"); fi
cd "$(dirname "$0")/.."
out=benchmarks/results/gpu
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1 ;;
        --out) [ $# -ge 2 ] || { echo "gpu.sh: error: --out needs a folder" >&2; exit 2; }; out="$2"; shift ;;
        *) echo "gpu.sh: error: unknown option $1 (use --dry-run, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"
# The video step's flow blend needs OpenCV: refuse at once rather than after the other steps.
python -c "import cv2" 2>/dev/null \
    || { echo 'gpu.sh: error: the video step needs OpenCV: pip install -e ".[video]"' >&2; exit 2; }

assets=../shared/assets
content=$assets/content/coco128; styles=$assets/styles
[ -d "$content" ] || content=demo/content
[ -d "$styles" ] || styles=demo/styles
# The video's yardstick needs the painting of the style painted, and demo/styles has no candy.
video_style=candy
[ -f "$styles/candy.jpg" ] || video_style=starry_night
photo=demo/content/chelsea.jpg  # one clip (a pan over it): the zoom would paint at the same speed
note="training photos $content, paintings $styles, VGG weights $vgg; video: a pan over $photo in $video_style"

if [ "$dry" = 1 ]; then
    train=(--accelerator cpu --precision bf16-mixed --batch-size 2 --size 32 --style-size 32 --steps 1 --warmup 1
           --num-workers 0)
    fast=(--channels-last)  # compiling on the CPU would take minutes: the dry run checks the layout only
    stylize=(--device cpu --sizes 32 --batch-sizes 2 --precisions bf16 --compile off --warmup 1 --min-time 0
             --min-iters 1)
    video=(--device cpu --height 32 --frames 3)
    backend=both
    note="dry run on the CPU at tiny sizes (figures meaningless); $note"
else
    python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" \
        || { echo "gpu.sh: error: no CUDA GPU visible to torch (use --dry-run to check the script on a CPU)" >&2; exit 2; }
    train=(--accelerator gpu --precision bf16-mixed --batch-size 16 --size 256 --style-size 256 --steps 60
           --warmup 10 --num-workers 8)
    fast=(--channels-last --compile)
    stylize=(--device cuda --sizes 1024 --batch-sizes 8 --precisions bf16 --compile both --warmup 3 --min-time 5)
    video=(--device cuda --height 1080 --frames 24)
    # ONNX Runtime without its CUDA provider would quietly run on the CPU: leave its row out instead.
    if python -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"
    then backend=both
    else backend=torch; note="$note; ONNX Runtime CUDA skipped: no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

# Each step bounded so that the whole run stays under 9.5 minutes even if one of them hangs; a step that fails or
# runs out of time is named in the note, and the others' figures are still reported (GPU time is scarce).
rm -f "$out/train.json" "$out/train_fast.json" "$out/stylize.json" "$out/video.json"
failed=()
timeout 150 python benchmarks/bench_train.py "${train[@]}" --content-dir "$content" --style-dir "$styles" \
    --vgg-weights "$vgg" --json "$out/train.json" || failed+=("training (exit $?)")
timeout 150 python benchmarks/bench_train.py "${train[@]}" "${fast[@]}" --content-dir "$content" \
    --style-dir "$styles" --vgg-weights "$vgg" --json "$out/train_fast.json" \
    || failed+=("training ${fast[*]} (exit $?)")
timeout 180 python benchmarks/bench_stylize.py "${stylize[@]}" --backend "$backend" --json "$out/stylize.json" \
    || failed+=("stylize (exit $?)")
timeout 90 python benchmarks/bench_video.py "${video[@]}" --ckpt checkpoints/ready12.pt --style "$video_style" \
    --styles "$styles" --photos "$photo" --batch 1 --vgg-weights "$vgg" --json "$out/video.json" \
    || failed+=("video (exit $?)")
reports=()
for report in train train_fast stylize video; do [ -f "$out/$report.json" ] && reports+=("$out/$report.json"); done
[ ${#failed[@]} -eq 0 ] || note="$note; FAILED (124: out of time): ${failed[*]}"
[ ${#reports[@]} -gt 0 ] || { echo "gpu.sh: error: every step failed: ${failed[*]}" >&2; exit 1; }
python benchmarks/gpu_report.py "${reports[@]}" --note "$note" --json "$out/gpu.json" --markdown "$out/gpu.md"
[ ${#failed[@]} -eq 0 ]
