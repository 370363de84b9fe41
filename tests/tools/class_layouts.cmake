# The user's path for the class layouts of unetpp-train (--classes, --in-channels, --mask-encoding,
# --palette) through the other programs, on generated folder data (40 x 36 images, trained at
# 32 x 32, so every output is mapped back to the images' own size):
#   grey1      grey images, one class, binary masks 0/255
#   labels3    grey images, 3 classes, label masks (pixel = class index)
#   palette3   RGB images, 3 classes, palette masks (black, red, green)
# For each: unetpp-predict with only the checkpoint writes masks of the images' size in the run's
# encoding (PNG colour type read from the header: grey for binary and labels, RGB for palette),
# and those masks read back as ground truth: unetpp-evaluate of the same checkpoint against them
# scores Dice 1 and pixel accuracy 1, which also proves every pixel a valid class index or palette
# colour (the readers refuse anything else, naming the file). unetpp-evaluate --subset val scores
# the run's validation images (per-class table, CSV columns), --overlays draws them, and
# unetpp-report builds the page from the CSV and the overlays; with --roi-masks only the pixels
# inside are scored. Errors of the multi-class runs:
# --threshold (argmax has none), a label mask holding a class >= N, a colour in no palette entry.
# Variables: TRAIN, PREDICT, EVALUATE, REPORT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

# Width, height, bit depth and colour type of a PNG, from its IHDR chunk (bytes 16 to 25).
function(png_header file out_w out_h out_depth out_type)
    require_file("${file}")
    file(READ "${file}" hex OFFSET 16 LIMIT 10 HEX)
    string(SUBSTRING "${hex}" 0 8 wh)
    string(SUBSTRING "${hex}" 8 8 hh)
    string(SUBSTRING "${hex}" 16 2 dh)
    string(SUBSTRING "${hex}" 18 2 th)
    math(EXPR w "0x${wh}")
    math(EXPR h "0x${hh}")
    math(EXPR d "0x${dh}")
    math(EXPR t "0x${th}")
    set(${out_w} ${w} PARENT_SCOPE)
    set(${out_h} ${h} PARENT_SCOPE)
    set(${out_depth} ${d} PARENT_SCOPE)
    set(${out_type} ${t} PARENT_SCOPE)
endfunction()

# The names split.json lists under "val", in `var`.
function(val_names run var)
    file(READ "${run}/split.json" split)
    string(JSON n LENGTH "${split}" val)
    math(EXPR last "${n} - 1")
    set(names "")
    foreach(k RANGE ${last})
        string(JSON name GET "${split}" val ${k})
        list(APPEND names "${name}")
    endforeach()
    set(${var} "${names}" PARENT_SCOPE)
endfunction()

# case: name; classes; data options of unetpp_make_folder_dataset (- for none); PNG colour type of
# the masks
foreach(case "grey1;1;-;0" "labels3;3;--classes 3;0" "palette3;3;--rgb --classes 3 --palette;2")
    list(GET case 0 name)
    list(GET case 1 classes)
    list(GET case 2 make_opts)
    list(GET case 3 mask_type)
    if(make_opts STREQUAL "-")
        set(make_opts "")
    endif()
    separate_arguments(make_opts)
    set(dir "${WORK}/${name}")
    run_ok("${MAKE_DATA}" "${dir}/data" 40 36 ${make_opts})
    set(train_opts --data-type folders --data "${dir}/data/images" --masks "${dir}/data/masks" --classes ${classes}
        --base 8 --depth 3 --size 32 --epochs 6 --batch 4 --split 0.5,0.5,0 --lr 0.01 --seed 3 --out "${dir}/run"
        --quiet)
    if(name STREQUAL "palette3")
        # the palette's ';' would split a CMake list: passed as one quoted argument
        file(READ "${dir}/data/palette.txt" palette)
        string(STRIP "${palette}" palette)
        execute_process(COMMAND "${TRAIN}" ${train_opts} --in-channels 3 --palette "${palette}" RESULT_VARIABLE rc
                        ERROR_VARIABLE err)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "unetpp-train --palette '${palette}' failed (${rc}):\n${err}")
        endif()
    else()
        run_ok("${TRAIN}" ${train_opts})
    endif()
    set(ckpt "${dir}/run/best.safetensors")

    # predict with only the checkpoint: masks of the images' own size in the run's encoding
    run_capture(out "${PREDICT}" --checkpoint "${ckpt}" --input "${dir}/data/images" --out "${dir}/pred"
                --mask-dir "${dir}/data/masks" --out-probs "${dir}/probs" --probs-png16)
    if(classes GREATER 2)
        require_match("${out}" "3 classes \\(each pixel its most probable class\\)" "predict (${name})")
    else()
        require_match("${out}" ", threshold 0\\.5" "predict (${name})")
    endif()
    foreach(k RANGE 7)
        png_header("${dir}/pred/img_${k}_mask.png" w h depth type)
        if(NOT w EQUAL 40 OR NOT h EQUAL 36 OR NOT depth EQUAL 8 OR NOT type EQUAL mask_type)
            message(FATAL_ERROR "${name}: img_${k}_mask.png is ${w}x${h}, ${depth} bits, colour type ${type}; "
                                "want 40x36, 8 bits, colour type ${mask_type}")
        endif()
        png_header("${dir}/pred/img_${k}_compare.png" w h depth type)
        if(NOT h EQUAL 36 OR NOT w EQUAL 124)  # three 40-pixel panels, 2-pixel gaps
            message(FATAL_ERROR "${name}: img_${k}_compare.png is ${w}x${h}, want 124x36")
        endif()
        if(classes GREATER 2)
            foreach(c 0 1 2)
                require_file("${dir}/probs/img_${k}_prob16_c${c}.png")
            endforeach()
            require_absent("${dir}/probs/img_${k}_prob16.png")
        else()
            require_file("${dir}/probs/img_${k}_prob16.png")
        endif()
        # the probability array: [H, W] for one class, [K, H, W] for K classes
        file(READ "${dir}/probs/img_${k}_prob.npy" npy OFFSET 10 LIMIT 100)  # the header, after magic and length
        if(classes GREATER 2)
            require_match("${npy}" "'shape': \\(3, 36, 40\\)" "${name}: img_${k}_prob.npy")
        else()
            require_match("${npy}" "'shape': \\(36, 40\\)" "${name}: img_${k}_prob.npy")
        endif()
    endforeach()

    # the predicted masks read back as ground truth of the run's encoding, and agree with evaluate
    run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --data-type folders --data "${dir}/data/images"
                --masks "${dir}/pred" --mask-suffix _mask --csv "${dir}/self.csv")
    if(classes GREATER 2)
        require_match("${out}"
                      "mean foreground Dice 1\\.0000, IoU 1\\.0000 \\(classes 1 to 2[^\n]*pixel accuracy 1\\.0000"
                      "${name}: predict's masks against evaluate's predictions")
    else()
        require_match("${out}" "\ndice +1\\.0000 " "${name}: predict's masks against evaluate's predictions")
    endif()

    # evaluate --subset val with the run's split; overlays; the report
    run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --subset val --csv "${dir}/val.csv"
                --summary "${dir}/val.txt" --overlays "${dir}/overlays" --out-masks "${dir}/val_masks")
    val_names("${dir}/run" want)
    file(STRINGS "${dir}/val.csv" rows)
    list(POP_FRONT rows header)
    list(LENGTH rows n_rows)
    list(LENGTH want n_want)
    if(NOT n_rows EQUAL n_want)
        message(FATAL_ERROR "${name}: val.csv has ${n_rows} rows, the run's split lists ${n_want} images")
    endif()
    if(classes GREATER 2)
        set(want_header "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,pixel_accuracy")
        string(APPEND want_header ",width,height,pixels,dice_c1,dice_c2")
        foreach(part "class 0 \\(background\\) +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+" "\nclass 1 +[0-9.]+"
                     "\nclass 2 +[0-9.]+" "\nmean foreground +[0-9.]+" "pixel accuracy [0-9.]+" "\npixel_acc +[0-9.]")
            require_match("${out}" "${part}" "${name}: evaluate's per-class output")
        endforeach()
        file(READ "${dir}/val.txt" summary)
        require_match("${summary}" "mean foreground Dice" "${name}: --summary")
    else()
        set(want_header "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels")
        if(out MATCHES "class 1")
            message(FATAL_ERROR "${name}: a one-class run has no per-class table:\n${out}")
        endif()
    endif()
    if(NOT header STREQUAL want_header)
        message(FATAL_ERROR "${name}: val.csv header is\n  ${header}\nwant\n  ${want_header}")
    endif()
    foreach(row IN LISTS rows)
        string(REPLACE "," ";" cells "${row}")
        list(GET cells 0 image)
        list(FIND want "${image}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${name}: val.csv scores '${image}', which split.json does not list under val")
        endif()
        list(LENGTH cells n_cells)
        string(REPLACE "," ";" head_cells "${header}")
        list(LENGTH head_cells n_head)
        if(NOT n_cells EQUAL n_head)
            message(FATAL_ERROR "${name}: val.csv row '${row}' has ${n_cells} cells, the header ${n_head}")
        endif()
        require_file("${dir}/overlays/${image}_overlay.png")
        png_header("${dir}/val_masks/${image}_pred.png" w h depth type)
        if(NOT type EQUAL mask_type)
            message(FATAL_ERROR "${name}: --out-masks ${image}_pred.png has colour type ${type}, want ${mask_type}")
        endif()
    endforeach()
    run_ok("${REPORT}" --run "${dir}/run" --csv "${dir}/val.csv" --overlays "${dir}/overlays"
           --out "${dir}/report.html")
    file(READ "${dir}/report.html" page)
    foreach(part "id=\"scores\"" "id=\"worst\"" "data:image/png;base64,")
        string(FIND "${page}" "${part}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${name}: report.html lacks '${part}'")
        endif()
    endforeach()
    if(classes GREATER 2)
        foreach(part "dice_c2" "A multi-class run: dice, iou, precision and recall are each image")
            string(FIND "${page}" "${part}" at)
            if(at EQUAL -1)
                message(FATAL_ERROR "${name}: report.html lacks '${part}' (the per-class column and its note)")
            endif()
        endforeach()
    endif()
endforeach()

# a region of interest: the multi-class scores count only the pixels inside (the discs of grey1)
file(MAKE_DIRECTORY "${WORK}/roi")
foreach(k RANGE 7)
    file(COPY_FILE "${WORK}/grey1/data/masks/img_${k}.png" "${WORK}/roi/img_${k}_fov.png")
endforeach()
run_capture(out "${EVALUATE}" --checkpoint "${WORK}/labels3/run/best.safetensors" --csv "${WORK}/roi.csv"
            --roi-masks "${WORK}/roi" --roi-suffix _fov)
require_match("${out}" "metrics inside the region masks" "evaluate --roi-masks (labels3)")
file(STRINGS "${WORK}/roi.csv" rows)
list(POP_FRONT rows header)
foreach(row IN LISTS rows)
    string(REPLACE "," ";" cells "${row}")
    list(GET cells 11 pixels)
    if(pixels LESS 1 OR NOT pixels LESS 1440)
        message(FATAL_ERROR "evaluate --roi-masks (labels3): '${row}' counts ${pixels} pixels, want those of the "
                            "disc only (1 to 1439 of 40 x 36)")
    endif()
endforeach()

# --- errors of multi-class runs: exit 2, one line naming the cause, nothing written ---------------
set(ckpt "${WORK}/labels3/run/best.safetensors")
expect_exit2("--threshold applies to networks of one or two classes; .* has 3 classes .*argmax"
    "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/labels3/data/images" --out "${WORK}/p_thr" --threshold 0.3)
require_absent("${WORK}/p_thr")
expect_exit2("--threshold applies to networks of one or two classes; .* has 3 classes"
    "${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/e_thr.csv" --threshold 0.3)
require_absent("${WORK}/e_thr.csv")
# a label mask holding class 7 (the run has 3 classes): the error names the file, evaluate and predict
file(MAKE_DIRECTORY "${WORK}/bad_labels")
file(GLOB masks "${WORK}/labels3/data/masks/*.png")
file(COPY ${masks} DESTINATION "${WORK}/bad_labels")
file(COPY_FILE "${WORK}/grey1/data/masks/img_2.png" "${WORK}/bad_labels/img_2.png")  # values 0 and 255
expect_exit2("mask '[^']*bad_labels/img_2\\.png' holds class 255 .*--classes is 3"
    "${EVALUATE}" --checkpoint "${ckpt}" --data-type folders --data "${WORK}/labels3/data/images"
    --masks "${WORK}/bad_labels" --csv "${WORK}/e_bad.csv")
require_absent("${WORK}/e_bad.csv")
execute_process(COMMAND "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/labels3/data/images" --out "${WORK}/p_bad"
                --mask-dir "${WORK}/bad_labels" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "bad_labels/img_2\\.png' holds class 255")
    message(FATAL_ERROR "predict --mask-dir with a label 255 in a 3-class run: want exit 2 naming the mask, got "
                        "${rc}:\n${err}")
endif()
require_absent("${WORK}/p_bad/img_2_mask.png")  # nothing of that image is written
require_file("${WORK}/p_bad/img_1_mask.png")   # the others are
# a palette mask with a colour in no palette entry
file(MAKE_DIRECTORY "${WORK}/bad_palette")
file(GLOB masks "${WORK}/palette3/data/masks/*.png")
file(COPY ${masks} DESTINATION "${WORK}/bad_palette")
file(COPY_FILE "${WORK}/grey1/data/masks/img_3.png" "${WORK}/bad_palette/img_3.png")  # white: in no entry
expect_exit2("mask '[^']*bad_palette/img_3\\.png' has colour \\(255, 255, 255\\) .*in no palette entry"
    "${EVALUATE}" --checkpoint "${WORK}/palette3/run/best.safetensors" --data-type folders
    --data "${WORK}/palette3/data/images" --masks "${WORK}/bad_palette" --csv "${WORK}/e_pal.csv")
require_absent("${WORK}/e_pal.csv")
file(REMOVE_RECURSE "${WORK}")
