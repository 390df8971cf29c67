//! A federation across OS processes (`bizra-node`), over loopback UDP: three processes join
//! through one seed; one is killed with SIGKILL and declared down by the others; restarted with
//! the same key file and data directory it comes back with a new generation; a graceful leave is
//! reported as left.

mod proc;

use std::time::Duration;

use proc::Proc;

#[test]
fn a_federation_of_processes_survives_kill_9_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("c.pem");
    let data = dir.path().join("c-data");
    let (key, data) = (key.to_str().unwrap(), data.to_str().unwrap());
    let limit = Duration::from_secs(15);

    let a = Proc::start(&["--federation", "processes"]);
    let mut b = Proc::start(&["--federation", "processes", "--seed", &a.addr]);
    let c = Proc::start(&[
        "--federation",
        "processes",
        "--seed",
        &a.addr,
        "--key",
        key,
        "--data-dir",
        data,
    ]);
    for (p, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        for o in others {
            assert!(
                p.wait_event("joined", &o.node_id, limit).is_some(),
                "{} never saw {} join",
                p.node_id,
                o.node_id
            );
        }
    }

    // kill -9: no goodbye; the others find out by probing.
    let (c_id, c_generation) = (c.node_id.clone(), c.generation);
    drop(c);
    assert!(
        a.wait_event("down", &c_id, limit).is_some(),
        "a never saw c down"
    );
    assert!(
        b.wait_event("down", &c_id, limit).is_some(),
        "b never saw c down"
    );

    // The same key and data directory: the same node, a new generation.
    let c2 = Proc::start(&[
        "--federation",
        "processes",
        "--seed",
        &a.addr,
        "--key",
        key,
        "--data-dir",
        data,
    ]);
    assert_eq!(c2.node_id, c_id);
    assert!(c2.generation > c_generation);
    let again = format!("event joined {c_id} ");
    let generation = format!(" {}", c2.generation);
    assert!(
        a.wait_line(|l| l.starts_with(&again) && l.ends_with(&generation), limit)
            .is_some(),
        "a never saw c back with its new generation"
    );

    // A graceful leave is reported as such.
    let b_id = b.node_id.clone();
    b.send("leave");
    assert!(
        a.wait_event("left", &b_id, limit).is_some(),
        "a never saw b leave"
    );
    let status = b.child.wait().unwrap();
    assert!(status.success());
}
