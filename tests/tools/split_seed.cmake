# unetpp-train --split-seed (issue 19, item 1): the split's seed apart from --seed, so that runs of
# several seeds train and validate on one split. Two runs with other --seed and the same
# --split-seed have the same split.json and export the same tensors (train and val) while their
# weights differ; another --split-seed gives another split; without --split-seed the split is
# --seed's, as before (a run with --seed 5 splits as one with --split-seed 5). config.json and
# the checkpoint record the split seed; a resume must give the same; unetpp-evaluate --subset val
# checks --split-seed against the run's and scores an ensemble of the two seeds on their one split.
# Variables: TRAIN, EVALUATE, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")  # 8 images with disc masks, 32 x 32
set(common --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --size 32
    --base 8 --depth 3 --batch 2 --split 0.5,0.5,0 --threads 1 --quiet)

# a: seed 1, split seed 5; b: seed 2, split seed 5; c: seed 2 (split seed 2); d: seed 5 (split seed 5)
run_ok("${TRAIN}" ${common} --epochs 1 --seed 1 --split-seed 5 --out "${WORK}/a" --export-data "${WORK}/a.safetensors")
run_ok("${TRAIN}" ${common} --epochs 1 --seed 2 --split-seed 5 --out "${WORK}/b" --export-data "${WORK}/b.safetensors")
run_ok("${TRAIN}" ${common} --epochs 1 --seed 2 --out "${WORK}/c" --export-data "${WORK}/c.safetensors")
run_ok("${TRAIN}" ${common} --epochs 1 --seed 5 --out "${WORK}/d" --export-data "${WORK}/d.safetensors")

foreach(r a b c d)
    read_val(${r} val_${r})
    file(SHA256 "${WORK}/${r}.safetensors" data_${r})
    file(SHA256 "${WORK}/${r}/last.safetensors" weights_${r})
endforeach()

# the same split seed: the same validation images and the same exported tensors, other weights
if(NOT val_a STREQUAL val_b)
    message(FATAL_ERROR "--seed 1 and --seed 2 with --split-seed 5 split differently:\n${val_a}\n${val_b}")
endif()
if(NOT data_a STREQUAL data_b)
    message(FATAL_ERROR "--seed 1 and --seed 2 with --split-seed 5 exported different tensors")
endif()
if(weights_a STREQUAL weights_b)
    message(FATAL_ERROR "--seed 1 and --seed 2 trained the same weights: --seed no longer reaches the network")
endif()
# another split seed: another split (seeds 2 and 5 give different halves of these 8 images)
if(val_c STREQUAL val_b OR data_c STREQUAL data_b)
    message(FATAL_ERROR "--split-seed 5 and the default (--seed 2) gave the same split:\n${val_b}\n${val_c}")
endif()
# no --split-seed: --seed splits, as before the option
if(NOT val_d STREQUAL val_a OR NOT data_d STREQUAL data_a)
    message(FATAL_ERROR "--seed 5 alone does not split as --split-seed 5:\n${val_a}\n${val_d}")
endif()

# the record: config.json names the split seed in every run; the checkpoint where it differs from --seed
file(READ "${WORK}/a/config.json" config_a)
file(READ "${WORK}/c/config.json" config_c)
string(FIND "${config_a}" "\"split_seed\": 5" at_a)
string(FIND "${config_c}" "\"split_seed\": 2" at_c)
if(at_a LESS 0 OR at_c LESS 0)
    message(FATAL_ERROR "config.json does not record the split seed:\n${config_a}\n${config_c}")
endif()
# (the safetensors header is JSON text after an 8-byte length: file(STRINGS) reads it out)
file(STRINGS "${WORK}/a/last.safetensors" rec_a LIMIT_INPUT 100000 REGEX "unetpp\\.extra\\.seed\":\"1\"")
file(STRINGS "${WORK}/a/last.safetensors" split_a LIMIT_INPUT 100000 REGEX "unetpp\\.extra\\.split-seed\":\"5\"")
file(STRINGS "${WORK}/d/last.safetensors" split_d LIMIT_INPUT 100000 REGEX "split-seed")
if(rec_a STREQUAL "" OR split_a STREQUAL "" OR NOT split_d STREQUAL "")
    message(FATAL_ERROR "the checkpoint records split-seed only where it differs from --seed (want it in a's, not in d's)")
endif()

# a resume must keep the split seed
expect_exit2("split-seed" "${TRAIN}" ${common} --seed 1 --out "${WORK}/a" --resume --epochs 2)
run_ok("${TRAIN}" ${common} --seed 1 --split-seed 5 --out "${WORK}/a" --resume --epochs 2)

# unetpp-evaluate --subset val: --split-seed is checked against the run's split seed (its
# --split-seed, else its --seed), and the two seeds of one split are an ensemble on its val part
expect_exit2("--split-seed 5 \\(the run\\) against 2" "${EVALUATE}" --checkpoint "${WORK}/b/last.safetensors"
             --subset val --split-seed 2 --csv "${WORK}/x.csv")
expect_exit2("--split-seed 2 \\(the run\\) against 5" "${EVALUATE}" --checkpoint "${WORK}/c/last.safetensors"
             --subset val --split-seed 5 --csv "${WORK}/x.csv")
run_ok("${EVALUATE}" --checkpoint "${WORK}/b/last.safetensors" --subset val --split-seed 5 --csv "${WORK}/b.csv")
run_ok("${EVALUATE}" --checkpoint "${WORK}/a/last.safetensors" --checkpoint "${WORK}/b/last.safetensors"
       --subset val --csv "${WORK}/ab.csv")
file(STRINGS "${WORK}/ab.csv" rows)
list(LENGTH rows n)
if(NOT n EQUAL 5)  # header + the 4 validation images
    message(FATAL_ERROR "the ensemble of seeds 1 and 2 scored ${n} lines, want 5 (header + 4 images)")
endif()
# members of two split seeds are refused for --subset val
expect_exit2("split-seed" "${EVALUATE}" --checkpoint "${WORK}/b/last.safetensors"
             --checkpoint "${WORK}/c/last.safetensors" --subset val --csv "${WORK}/y.csv")
# without --subset every image is scored: a split seed there chooses nothing and is refused
expect_exit2("--split-seed and --split-file choose a part with --subset" "${EVALUATE}"
             --checkpoint "${WORK}/b/last.safetensors" --split-seed 5 --csv "${WORK}/z.csv")
