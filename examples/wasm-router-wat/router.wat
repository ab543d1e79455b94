;; wasm-router-wat: a route policy written by hand in WebAssembly text, straight from
;; docs/plugins.md's ABI v1 ("WASM ABI v1"): the least-loaded WORKING candidate.
;;
;;   wat2wasm router.wat -o router.wasm
;;
;; route: among the candidates whose state is "WORKING", the one with the smallest
;; queue_depth; ties go to the smallest sent_minute, then to the first. With no WORKING
;; candidate it logs a warning and has no opinion (-1).
(module
  (import "wagate" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 2)

  ;; 0..1023: constants. 65536..: the input buffer, grown on demand.
  (data (i32.const 16) "WORKING")
  (data (i32.const 32) "no WORKING candidate")

  (func (export "wagate_abi_version") (result i32) (i32.const 1))

  ;; One call at a time, one input at a time: every input goes at 65536, and memory
  ;; grows to hold it. 0 when it cannot.
  (func (export "wagate_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $size)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  ;; $is_working: the string at input+off, len bytes, is "WORKING".
  (func $is_working (param $in i32) (param $off i32) (param $len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $len) (i32.const 7)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 7)))
        (if (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $in) (local.get $off)) (local.get $i)))
              (i32.load8_u (i32.add (i32.const 16) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "wagate_route") (param $in i32) (param $len i32) (result i32)
    (local $count i32) (local $size i32) (local $rec i32) (local $i i32)
    (local $best i32) (local $depth i32) (local $minute i32) (local $d i32) (local $m i32)
    (local.set $count (i32.load offset=24 (local.get $in)))  ;; candidate_count
    (local.set $size (i32.load offset=20 (local.get $in)))   ;; candidate_size
    (local.set $rec (i32.add (local.get $in) (i32.load offset=28 (local.get $in)))) ;; candidates_offset
    (local.set $best (i32.const -1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        ;; state: a str (offset, length) at record offset 16
        (if (call $is_working (local.get $in)
              (i32.load offset=16 (local.get $rec)) (i32.load offset=20 (local.get $rec)))
          (then
            (local.set $d (i32.load offset=24 (local.get $rec)))  ;; queue_depth
            (local.set $m (i32.load offset=28 (local.get $rec)))  ;; sent_minute
            (if (i32.or
                  (i32.eq (local.get $best) (i32.const -1))
                  (i32.or
                    (i32.lt_u (local.get $d) (local.get $depth))
                    (i32.and (i32.eq (local.get $d) (local.get $depth))
                             (i32.lt_u (local.get $m) (local.get $minute)))))
              (then
                (local.set $best (local.get $i))
                (local.set $depth (local.get $d))
                (local.set $minute (local.get $m))))))
        (local.set $rec (i32.add (local.get $rec) (local.get $size)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (i32.eq (local.get $best) (i32.const -1))
      (then (call $log (i32.const 2) (i32.const 32) (i32.const 20))))
    (local.get $best))
)
