# Bad input: each command must exit with 2 and one clear line on stderr, writing nothing.
# Variables: TRAIN, EVALUATE, PREDICT, PLOT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

expect_exit2("'${WORK}/missing' does not exist"
    "${TRAIN}" --data-type folders --data "${WORK}/missing" --masks "${WORK}/missing" --out "${WORK}/run")
if(EXISTS "${WORK}/run")
    message(FATAL_ERROR "a failed unetpp-train left '${WORK}/run' behind")
endif()
expect_exit2("not compiled in; supported: unet_bn" "${TRAIN}" --base 12 --out "${WORK}/run")
expect_exit2("nearest valid sizes: 24 and 32" "${TRAIN}" --base 8 --depth 3 --size 30 --out "${WORK}/run")
expect_exit2("unknown option --bogus" "${TRAIN}" --bogus 1 --out "${WORK}/run")
# an unknown option is unknown even at the end of the line (it used to "need a value")
expect_exit2("unknown option --mistyped" "${TRAIN}" --out "${WORK}/run" --mistyped)

# numbers (issue 14, item 9): no int truncation, no ignored or negative values; the message names
# the option, the value and the accepted range
expect_exit2("--size 4294967360 is out of range; use 8 to 4096" "${TRAIN}" --size 4294967360 --out "${WORK}/run")
expect_exit2("--batch 4294967297 is out of range; use 1 to 4096" "${TRAIN}" --batch 4294967297 --out "${WORK}/run")
expect_exit2("--threads 0 is out of range; use 1 to 1024" "${TRAIN}" --threads 0 --out "${WORK}/run")
expect_exit2("--threads -2 is out of range; use 1 to 1024" "${TRAIN}" --threads -2 --out "${WORK}/run")
expect_exit2("--lr -1 is out of range; use a number > 0 and <= 10" "${TRAIN}" --lr -1 --out "${WORK}/run")
expect_exit2("--lr 'nan' is not a finite number" "${TRAIN}" --lr nan --out "${WORK}/run")
expect_exit2("--epochs '2.5' is not a whole number; use 1 to 100000" "${TRAIN}" --epochs 2.5 --out "${WORK}/run")
expect_exit2("--momentum 1 is out of range; use a number >= 0 and < 1" "${TRAIN}" --optimizer sgd --momentum 1
    --out "${WORK}/run")
expect_exit2("--fold 3 is out of range; use 0 to 2" "${TRAIN}" --folds 3 --fold 3 --out "${WORK}/run")
expect_exit2("--split '0.8,0.3,0.1' adds up to more than 1" "${TRAIN}" --split 0.8,0.3,0.1 --out "${WORK}/run")
expect_exit2("--loss 'dicee' is not one of bce, dice, dice_bce, focal, iou or tversky" "${TRAIN}" --loss dicee
    --out "${WORK}/run")
expect_exit2("option --epochs is given twice" "${TRAIN}" --epochs 1 --epochs 2 --out "${WORK}/run")
# every numeric option names the option, the value and the accepted range (issue 20, item 4)
expect_exit2("--synthetic-count 2 is out of range; use 4 to 1000000" "${TRAIN}" --synthetic-count 2 --out "${WORK}/run")
expect_exit2("--weight-decay 2 is out of range; use a number >= 0 and <= 1" "${TRAIN}" --weight-decay 2 --out "${WORK}/run")
expect_exit2("--patience -1 is out of range; use 0 to 100000" "${TRAIN}" --patience -1 --out "${WORK}/run")
expect_exit2("--min-delta 'x' is not a number; use a number >= 0 and <= 1e\\+06" "${TRAIN}" --min-delta x --out "${WORK}/run")
expect_exit2("--clip-norm -3 is out of range; use a number >= 0 and <= 1e\\+06" "${TRAIN}" --clip-norm -3 --out "${WORK}/run")
expect_exit2("--seed -1 is out of range; use 0 to 9223372036854775807" "${TRAIN}" --seed -1 --out "${WORK}/run")
expect_exit2("--base 0 is out of range; use 1 to 1024" "${TRAIN}" --base 0 --out "${WORK}/run")
expect_exit2("--depth 11 is out of range; use 1 to 10" "${TRAIN}" --depth 11 --out "${WORK}/run")
expect_exit2("--folds 1 is out of range; use 2 to 100" "${TRAIN}" --folds 1 --out "${WORK}/run")
expect_exit2("--split validation fraction '-0.1' is|--split validation fraction -0.1 is out of range" "${TRAIN}"
    --split 0.8,-0.1,0.1 --out "${WORK}/run")
# patches, augmentation lists, validation folder and ROI masks (issue 20, item 10)
expect_exit2("--patch 4 is out of range; use 8 to 4096" "${TRAIN}" --patch 4 --out "${WORK}/run")
expect_exit2("--patch 'big' is not a whole number; use 8 to 4096" "${TRAIN}" --patch big --out "${WORK}/run")
expect_exit2("--fg-oversample 1.5 is out of range; use a number >= 0 and <= 1" "${TRAIN}" --patch 16
    --fg-oversample 1.5 --out "${WORK}/run")
expect_exit2("--fg-oversample needs --patch N" "${TRAIN}" --fg-oversample 0.3 --out "${WORK}/run")
expect_exit2("--patch 96 is larger than the images \\(--size 64\\)" "${TRAIN}" --patch 96 --out "${WORK}/run")
expect_exit2("--patch 20 does not fit .*nearest valid sizes: 16 and 24" "${TRAIN}" --base 8 --depth 3 --patch 20
    --out "${WORK}/run")
expect_exit2("--augment 'flip,twirl': augment step 'twirl' is unknown; use flip, hflip" "${TRAIN}"
    --augment flip,twirl --out "${WORK}/run")
expect_exit2("--augment 'rotate=400': augment step 'rotate=400': 400 is out of range; use a number > 0 and <= 180"
    "${TRAIN}" --augment rotate=400 --out "${WORK}/run")
expect_exit2("--val-data needs --val-masks DIR" "${TRAIN}" --val-data "${WORK}" --out "${WORK}/run")
expect_exit2("--roi-masks and --roi-suffix work with --data-type folders" "${TRAIN}" --roi-suffix _fov
    --base 8 --depth 3 --out "${WORK}/run")
# class layouts: --classes, --in-channels, --mask-encoding, --palette and the losses they allow
expect_exit2("--classes 0 is out of range; use 1 to 256" "${TRAIN}" --classes 0 --out "${WORK}/run")
expect_exit2("--classes 300 is out of range; use 1 to 256" "${TRAIN}" --classes 300 --out "${WORK}/run")
expect_exit2("--in-channels 2: give 1 \\(grey\\) or 3 \\(RGB\\)" "${TRAIN}" --in-channels 2
    --out "${WORK}/run")
expect_exit2("--loss 'bce' is a one-class \\(sigmoid\\) loss; with --classes 3 use ce, dice or dice_ce" "${TRAIN}"
    --loss bce --classes 3 --out "${WORK}/run")
expect_exit2("--mask-encoding palette needs --palette with one colour per class" "${TRAIN}" --data-type folders
    --data "${WORK}" --masks "${WORK}" --mask-encoding palette --classes 3 --out "${WORK}/run")
# (a palette of one entry: a ';' would split the CMake list of arguments)
expect_exit2("--palette '300,0,0': palette entry 0 \\(class 0\\) '300,0,0': 300 is outside 0 to 255"
    "${TRAIN}" --data-type folders --data "${WORK}" --masks "${WORK}" --palette 300,0,0 --classes 3
    --out "${WORK}/run")
expect_exit2("--palette '#00ff0g': palette entry 0 \\(class 0\\) '#00ff0g': 'g' is not a hexadecimal digit"
    "${TRAIN}" --data-type folders --data "${WORK}" --masks "${WORK}" --palette "#00ff0g" --classes 3
    --out "${WORK}/run")
if(EXISTS "${WORK}/run")
    message(FATAL_ERROR "a refused unetpp-train left '${WORK}/run' behind")
endif()
# a label mask holding a class >= N: the message names the file, the class and the --classes to pass
execute_process(COMMAND "${MAKE_DATA}" "${WORK}/data3" --classes 3 RESULT_VARIABLE rc)
expect_exit2("mask '[^']*data3/masks/img_0\\.png' holds class 2 at pixel .*--classes is 2 .*pass --classes 3"
    "${TRAIN}" --data-type folders --data "${WORK}/data3/images" --masks "${WORK}/data3/masks" --classes 2
    --mask-encoding labels --base 8 --depth 3 --size 32 --epochs 1 --out "${WORK}/run")
if(EXISTS "${WORK}/run")
    message(FATAL_ERROR "a refused unetpp-train left '${WORK}/run' behind")
endif()

# an unreadable image: the message names the file
execute_process(COMMAND "${MAKE_DATA}" "${WORK}/data" RESULT_VARIABLE rc)
file(WRITE "${WORK}/data/images/img_0.png" "not a png")
expect_exit2("img_0.png"
    "${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --base 8 --depth 3
    --size 32 --out "${WORK}/run")

# evaluate: missing checkpoint; checkpoint of another architecture
expect_exit2("does not exist" "${EVALUATE}" --checkpoint "${WORK}/none.safetensors" --csv "${WORK}/e.csv")
execute_process(COMMAND "${MAKE_DATA}" "${WORK}/data2" RESULT_VARIABLE rc)
execute_process(COMMAND "${TRAIN}" --data-type folders --data "${WORK}/data2/images" --masks "${WORK}/data2/masks"
    --base 8 --depth 3 --size 32 --epochs 1 --split 0.75,0.25,0 --out "${WORK}/run2" --quiet RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "training for the architecture test failed (${rc})")
endif()
# an architecture option that disagrees with the checkpoint's record is refused, naming both
expect_exit2("--base 16 disagrees with the checkpoint, which was trained with base 8; drop --base"
    "${EVALUATE}" --checkpoint "${WORK}/run2/last.safetensors" --base 16 --data-type folders
    --data "${WORK}/data2/images" --masks "${WORK}/data2/masks" --csv "${WORK}/e.csv")
# numbers from the command line and from the checkpoint's record are range-checked
expect_exit2("--base 'abc' is not a whole number; use 1 to 1024" "${EVALUATE}" --checkpoint "${WORK}/run2/last.safetensors"
    --base abc --csv "${WORK}/e.csv")
expect_exit2("--threshold 2 is out of range; use a number >= 0 and <= 1" "${EVALUATE}"
    --checkpoint "${WORK}/run2/last.safetensors" --threshold 2 --csv "${WORK}/e.csv")
expect_exit2("--threads 0 is out of range" "${EVALUATE}" --checkpoint "${WORK}/run2/last.safetensors" --threads 0
    --csv "${WORK}/e.csv")
expect_exit2("--subset 'validation' is not one of all, train, val or test" "${EVALUATE}"
    --checkpoint "${WORK}/run2/last.safetensors" --subset validation --csv "${WORK}/e.csv")
if(EXISTS "${WORK}/e.csv")
    message(FATAL_ERROR "a failed unetpp-evaluate left '${WORK}/e.csv' behind")
endif()
# predict's numbers name the option, the value and the range too (issue 20, item 4)
foreach(case "tile;4;--tile 4 is out of range; use 8 to 65536" "overlap;-1;--overlap -1 is out of range; use 0 to 32768"
             "memory-mb;0;--memory-mb 0 is out of range; use 1 to 1048576"
             "batch;0;--batch 0 is out of range; use 1 to 4096"
             "threshold;5;--threshold 5 is out of range; use a number >= 0 and <= 1")
    list(GET case 0 option)
    list(GET case 1 value)
    list(GET case 2 want)
    expect_exit2("${want}" "${PREDICT}" --checkpoint "${WORK}/run2/last.safetensors" --input "${WORK}/data2/images"
        --out "${WORK}/p" --${option} ${value})
endforeach()
if(EXISTS "${WORK}/p")
    message(FATAL_ERROR "a refused unetpp-predict left '${WORK}/p' behind")
endif()
# plot: missing log
expect_exit2("cannot read" "${PLOT}" --log "${WORK}/nolog.csv" --out "${WORK}/c.svg")
file(REMOVE_RECURSE "${WORK}")
