//! Tier selection: the estimate's rules in order, forced tiers, the hardware profile.

use bizra::{select_tier, HardwareProfile, ModelTier, TaskComplexity};

fn words(n: usize) -> String {
    vec!["word"; n].join(" ")
}

#[test]
fn complexity_rules_first_match_wins() {
    use TaskComplexity::*;
    assert_eq!(TaskComplexity::estimate("What is 2+2?", 64), Simple);
    assert_eq!(TaskComplexity::estimate(&words(30), 500), Simple);
    assert_eq!(TaskComplexity::estimate(&words(31), 10), Medium);
    assert_eq!(TaskComplexity::estimate("hi", 501), Medium);
    assert_eq!(TaskComplexity::estimate(&words(101), 10), Complex);
    assert_eq!(
        TaskComplexity::estimate("fix ```let x = 1;```", 10),
        Complex
    );
    assert_eq!(TaskComplexity::estimate("Please EXPLAIN this", 10), Complex);
    assert_eq!(
        TaskComplexity::estimate(&format!("explain {}", words(200)), 10),
        Expert
    );
    assert_eq!(
        TaskComplexity::estimate(&format!("explain {}", words(199)), 10),
        Complex
    );
    assert_eq!(TaskComplexity::estimate("hi", 2001), Expert);
    assert_eq!(TaskComplexity::estimate("hi", 2000), Medium);
    assert_eq!(TaskComplexity::estimate("", 0), Simple);
}

#[test]
fn tiers_follow_complexity_unless_forced() {
    let d = select_tier("What is 2+2?", 64, None);
    assert_eq!(
        (d.complexity, d.tier, d.forced),
        (TaskComplexity::Simple, ModelTier::Edge, false)
    );
    assert!(
        d.reason.contains("simple") && d.reason.contains("edge"),
        "{}",
        d.reason
    );
    assert_eq!(select_tier(&words(40), 64, None).tier, ModelTier::Edge);
    assert_eq!(
        select_tier("explain monads", 64, None).tier,
        ModelTier::Local
    );
    assert_eq!(select_tier("hi", 4000, None).tier, ModelTier::Pool);
    let f = select_tier("hi", 4000, Some(ModelTier::Edge));
    assert_eq!(
        (f.tier, f.forced, f.complexity),
        (ModelTier::Edge, true, TaskComplexity::Expert)
    );
    assert!(f.reason.contains("forced"), "{}", f.reason);
    assert_eq!(ModelTier::from_name("LOCAL"), Some(ModelTier::Local));
    assert_eq!(ModelTier::from_name("cloud"), None);
    assert_eq!(ModelTier::Edge.parameter_range_billions(), (0.5, 1.5));
}

#[test]
fn hardware_profile_measures_this_machine() {
    let p = HardwareProfile::detect();
    assert!(p.cpu_cores >= 1 && p.logical_cpus >= p.cpu_cores.min(p.logical_cpus));
    assert!(p.ram_total_bytes > 0 && p.ram_available_bytes <= p.ram_total_bytes);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kb) = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
    {
        assert_eq!(
            p.ram_total_bytes,
            kb * 1024,
            "RAM is read from the OS, not invented"
        );
    }
    assert!(p.disk_free_bytes > 0, "free disk of the working directory");
    let has_smi = std::process::Command::new("nvidia-smi").output().is_ok();
    if !has_smi {
        assert!(p.gpus.is_empty());
    }
    assert!(!p.can_serve(ModelTier::Pool));
}
