//! The constitution: default, load, hash, thresholds, compliance check.

use std::ffi::{c_char, CString};

use bizra_core::constitution::Enforcement;
use bizra_core::{ComplianceInput, Constitution};

use crate::*;

/// A validated constitution. Immutable, so safe to share between threads. Reference-counted: a
/// gate chain made from it keeps its own reference (no copy), so `bizra_constitution_free` may
/// come before the chain's free.
pub struct bizra_constitution {
    _opaque: [u8; 0],
}
handle_type!(bizra_constitution => Constitution, Shared);

/// The verdict of a compliance check. Immutable, so safe to share between threads. Freed with
/// `bizra_compliance_report_free`.
pub struct bizra_compliance_report {
    _opaque: [u8; 0],
}
handle_type!(bizra_compliance_report => Compliance, Boxed);

/// The thresholds a constitution sets.
#[repr(C)]
#[derive(Debug, Default)]
pub struct bizra_thresholds {
    /// `ihsan.minimum`.
    pub ihsan_minimum: f64,
    /// `ihsan.target`.
    pub ihsan_target: f64,
    /// `snr_threshold`.
    pub snr_threshold: f64,
    /// `max_ttl_seconds`.
    pub max_ttl_seconds: i64,
    /// `max_clock_skew_seconds`.
    pub max_clock_skew_seconds: i64,
}

/// The facts a compliance check judges. Zero-initialise and set `struct_size`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_compliance_input {
    /// `sizeof(bizra_compliance_input)`.
    pub struct_size: u32,
    /// Whether `snr` is measured (a missing score fails its rule).
    pub has_snr: bool,
    /// The measured SNR.
    pub snr: f64,
    /// Whether `ihsan` is measured (a missing score fails its rule).
    pub has_ihsan: bool,
    /// The measured Ihsan.
    pub ihsan: f64,
    /// Whether the output carries a valid signature by its sender.
    pub has_signature: bool,
    /// Whether the output names the envelopes it derives from.
    pub has_provenance: bool,
}

/// How strictly a rule is enforced.
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_enforcement {
    /// A violation makes the output non-compliant.
    Strict = 0,
    /// A violation is reported only.
    Advisory = 1,
}

/// The verdict on one rule; strings belong to the report.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_rule_outcome {
    /// The rule's id.
    pub id: *const c_char,
    /// Its enforcement (`bizra_enforcement`).
    pub enforcement: u32,
    /// Whether it is satisfied.
    pub passed: bool,
    /// Whether `value` is set (a threshold rule with a measured value).
    pub has_value: bool,
    /// The value judged.
    pub value: f64,
    /// Whether `threshold` is set.
    pub has_threshold: bool,
    /// The threshold.
    pub threshold: f64,
    /// Why, in words.
    pub detail: *const c_char,
}

/// A compliance report with C strings kept alive beside it.
pub(crate) struct Compliance {
    compliant: bool,
    rules: Vec<(bizra_core::constitution::RuleOutcome, CString, CString)>,
}

/// The embedded default constitution (`tests/vectors/constitution-v1.json`). `*out`: a new
/// constitution, the caller's; free it with `bizra_constitution_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_default(
    out: *mut *mut bizra_constitution,
) -> bizra_status {
    boundary("bizra_constitution_default", || {
        let out = out_checked(out)?;
        bizra_constitution::put(out, Constitution::default())
    })
}

/// Reads and validates a constitution file. `*out`: a new constitution, the caller's; free it
/// with `bizra_constitution_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_load(
    path: *const c_char,
    out: *mut *mut bizra_constitution,
) -> bizra_status {
    boundary("bizra_constitution_load", || {
        let out = out_checked(out)?;
        bizra_constitution::put(out, Constitution::load(text(path, "path")?)?)
    })
}

/// Parses and validates constitution JSON text. `*out`: a new constitution, the caller's; free
/// it with `bizra_constitution_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_from_json(
    json: *const c_char,
    out: *mut *mut bizra_constitution,
) -> bizra_status {
    boundary("bizra_constitution_from_json", || {
        let out = out_checked(out)?;
        bizra_constitution::put(out, Constitution::from_json(text(json, "json")?)?)
    })
}

/// The constitution's hash, `H("bizra-constitution-v1:", JCS(constitution))`, as 64 lowercase
/// hex (the value envelopes carry as `policy`). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_hash_hex(
    c: *const bizra_constitution,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_constitution_hash_hex", || {
        let out = out_checked(out)?;
        put_string(out, bizra_constitution::arg(c, "c")?.hash_hex())
    })
}

/// The constitution's `version`. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_version(
    c: *const bizra_constitution,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_constitution_version", || {
        let out = out_checked(out)?;
        put_string(out, bizra_constitution::arg(c, "c")?.version())
    })
}

/// The constitution's thresholds, written to `*out` (values: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_thresholds(
    c: *const bizra_constitution,
    out: *mut bizra_thresholds,
) -> bizra_status {
    boundary("bizra_constitution_thresholds", || {
        let out = out_checked(out)?;
        let c = bizra_constitution::arg(c, "c")?;
        put(
            out,
            bizra_thresholds {
                ihsan_minimum: c.ihsan_minimum(),
                ihsan_target: c.ihsan_target(),
                snr_threshold: c.snr_threshold(),
                max_ttl_seconds: c.max_ttl_seconds(),
                max_clock_skew_seconds: c.max_clock_skew_seconds(),
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The quorum for `n` validators, floor(2n/3)+1, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_quorum(n: usize, out: *mut usize) -> bizra_status {
    boundary("bizra_constitution_quorum", || {
        let out = out_checked(out)?;
        put(out, Constitution::quorum(n));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Checks an output's facts against the constitution's rules. `BIZRA_STATUS_OK` whatever the
/// verdict; read it with `bizra_compliance_report_*`. `*out`: a new report, the caller's; free it
/// with `bizra_compliance_report_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_check(
    c: *const bizra_constitution,
    input: *const bizra_compliance_input,
    out: *mut *mut bizra_compliance_report,
) -> bizra_status {
    boundary("bizra_constitution_check", || {
        let out = out_checked(out)?;
        let c = bizra_constitution::arg(c, "c")?;
        let i = options(input, "input")?.ok_or_else(|| null("input"))?;
        let input = ComplianceInput {
            snr: i.has_snr.then_some(i.snr),
            ihsan: i.has_ihsan.then_some(i.ihsan),
            has_signature: i.has_signature,
            has_provenance: i.has_provenance,
        };
        let r = c.check(&input);
        let rules = r
            .rules
            .into_iter()
            .map(|o| {
                let id = CString::new(o.id.replace('\0', "?")).unwrap_or_default();
                let detail = CString::new(o.detail.replace('\0', "?")).unwrap_or_default();
                (o, id, detail)
            })
            .collect();
        let rep = Compliance {
            compliant: r.compliant,
            rules,
        };
        bizra_compliance_report::put(out, rep)
    })
}

/// Frees the caller's reference to a constitution (gate chains made from it keep theirs). NULL
/// is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_constitution_free(c: *mut bizra_constitution) {
    boundary("bizra_constitution_free", || bizra_constitution::free(c))
}

/// Whether no strict rule failed, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_compliance_report_compliant(
    report: *const bizra_compliance_report,
    out: *mut bool,
) -> bizra_status {
    boundary("bizra_compliance_report_compliant", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_compliance_report::arg(report, "report")?.compliant,
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of rule outcomes, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_compliance_report_count(
    report: *const bizra_compliance_report,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_compliance_report_count", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_compliance_report::arg(report, "report")?.rules.len(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Rule outcome `index`, in the constitution's order, written to `*out`: its strings belong to
/// the report (valid until `bizra_compliance_report_free`, never freed by the caller).
#[no_mangle]
pub unsafe extern "C" fn bizra_compliance_report_rule(
    report: *const bizra_compliance_report,
    index: usize,
    out: *mut bizra_rule_outcome,
) -> bizra_status {
    boundary("bizra_compliance_report_rule", || {
        let out = out_checked(out)?;
        let r = bizra_compliance_report::arg(report, "report")?;
        let (o, id, detail) = r.rules.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} rules", r.rules.len()),
            )
        })?;
        put(
            out,
            bizra_rule_outcome {
                id: id.as_ptr(),
                enforcement: match o.enforcement {
                    Enforcement::Strict => bizra_enforcement::Strict as u32,
                    Enforcement::Advisory => bizra_enforcement::Advisory as u32,
                },
                passed: o.passed,
                has_value: o.value.is_some(),
                value: o.value.unwrap_or(0.0),
                has_threshold: o.threshold.is_some(),
                threshold: o.threshold.unwrap_or(0.0),
                detail: detail.as_ptr(),
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a compliance report. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_compliance_report_free(report: *mut bizra_compliance_report) {
    boundary("bizra_compliance_report_free", || {
        bizra_compliance_report::free(report)
    })
}
