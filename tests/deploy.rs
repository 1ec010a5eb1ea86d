//! `deploy/`: the Kubernetes manifests rendered from `deploy/params.env` (the fields that
//! matter, and the Kubernetes API schema, offline, with `kubernetes-validate`), and the
//! container image (built where Docker and its base images are present, else SKIPPED).
//!
//! YAML is read with Python's PyYAML (a dependency of kubernetes-validate), so the test
//! needs no YAML crate; `.ci/run` installs kubernetes-validate from PyPI. With `CI` set,
//! a missing validator is a failure; elsewhere the schema check says SKIPPED.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const START_AT: &str = "2026-12-24T18:00:00Z";

/// deploy/k8s/render.sh with test parameters; (YAML text, documents as JSON).
fn render(out: &Path) -> (String, Vec<Value>) {
    let r = Command::new(repo().join("deploy/k8s/render.sh"))
        .current_dir(repo())
        .env("RUN", "t1")
        .env("SHARDS", "6")
        .env("USERS", "600")
        .env("SPAWN_RATE", "60")
        .env("DURATION", "120")
        .env("TARGET", "http://api.test:8000")
        .env("START_AT", START_AT)
        .env("IMAGE", "registry.test/reprise:1")
        .env("RECORDING", "recordings/sample.trace.zst")
        .env("PROFILE", "profiles/light.toml")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8(r.stdout).unwrap();
    std::fs::write(out, &text).unwrap();
    let json = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(out)
        .output()
        .expect("python3 runs");
    assert!(
        json.status.success(),
        "PyYAML: {}",
        String::from_utf8_lossy(&json.stderr)
    );
    (text, serde_json::from_slice(&json.stdout).unwrap())
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The value after `flag` in `args`.
fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag}"));
    &args[i + 1]
}

/// The podFailurePolicy action for a container that exited `code` (None: no rule matched,
/// so the failure counts against the backoff limit and the pod is retried).
fn action(policy: &Value, container: &str, code: i64) -> Option<String> {
    for rule in policy["rules"].as_array().unwrap() {
        let on = &rule["onExitCodes"];
        if on.is_null() {
            continue;
        }
        assert_eq!(on["containerName"], container);
        let values: Vec<i64> = on["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let hit = match on["operator"].as_str().unwrap() {
            "In" => values.contains(&code),
            "NotIn" => !values.contains(&code),
            op => panic!("operator {op}"),
        };
        if hit {
            return Some(rule["action"].as_str().unwrap().to_string());
        }
    }
    None
}

#[test]
fn kubernetes_manifests_render_with_the_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, docs) = render(&tmp.path().join("test.yaml"));
    assert_eq!(docs.len(), 4, "ConfigMap, PVC, shards Job, merge Job");

    // the recording and the profile travel in the ConfigMap, byte for byte
    let inputs = kind(&docs, "ConfigMap", "t1-inputs");
    use base64::Engine as _;
    let rec = base64::engine::general_purpose::STANDARD
        .decode(
            inputs["binaryData"]["recording.trace.zst"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        rec,
        std::fs::read(repo().join("recordings/sample.trace.zst")).unwrap()
    );
    assert_eq!(
        inputs["data"]["profile.toml"].as_str().unwrap(),
        std::fs::read_to_string(repo().join("profiles/light.toml")).unwrap()
    );
    let pvc = kind(&docs, "PersistentVolumeClaim", "reprise-results");
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");

    // the shards: indexed, N completions = N in parallel, the start time passed in
    let job = kind(&docs, "Job", "t1-shards");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 6);
    assert_eq!(spec["parallelism"], 6);
    let pod = &spec["template"]["spec"];
    assert_eq!(
        pod["restartPolicy"], "Never",
        "podFailurePolicy requires it"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "shard");
    assert_eq!(c["image"], "registry.test/reprise:1");
    let args = strs(&c["args"]);
    assert_eq!(args[0], "replay");
    assert_eq!(args[1], "/inputs/recording.trace.zst");
    assert_eq!(after(&args, "--shard"), "auto/6");
    assert_eq!(after(&args, "--start-at"), START_AT);
    assert_eq!(after(&args, "--users"), "600");
    assert_eq!(after(&args, "--target"), "http://api.test:8000");
    assert_eq!(after(&args, "--duration"), "120");
    assert_eq!(after(&args, "--profile"), "/inputs/profile.toml");
    // Kubernetes expands $(JOB_COMPLETION_INDEX) (an env var of every Indexed Job pod)
    assert_eq!(
        after(&args, "--report"),
        "/results/t1/shard-$(JOB_COMPLETION_INDEX)"
    );

    // exit 1 (thresholds failed), 2 (bad input), 3 (aborted): never retried, and the other
    // shards go on; a crash (panic 101, OOM kill 137) matches no rule: retried, same index
    let policy = &spec["podFailurePolicy"];
    for code in [1, 2, 3] {
        assert_eq!(
            action(policy, "shard", code).as_deref(),
            Some("FailIndex"),
            "{code}"
        );
    }
    for code in [101, 137, 139] {
        assert_eq!(action(policy, "shard", code), None, "{code}");
    }
    assert!(spec["backoffLimitPerIndex"].as_i64().unwrap() >= 1);
    let disruption = &policy["rules"][0];
    assert_eq!(disruption["action"], "Ignore");
    assert_eq!(disruption["onPodConditions"][0]["type"], "DisruptionTarget");

    // volumes: the inputs read-only from the ConfigMap, the results on the shared claim
    let mounts = |c: &Value| -> Vec<(String, String, bool)> {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["mountPath"].as_str().unwrap().to_string(),
                    m["readOnly"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let want = vec![
        ("inputs".to_string(), "/inputs".to_string(), true),
        ("results".to_string(), "/results".to_string(), false),
    ];
    assert_eq!(mounts(c), want);
    let volumes = |pod: &Value| {
        let v = pod["volumes"].as_array().unwrap().clone();
        assert_eq!(v[0]["configMap"]["name"], "t1-inputs");
        assert_eq!(
            v[1]["persistentVolumeClaim"]["claimName"],
            "reprise-results"
        );
    };
    volumes(pod);

    // the merge: same volumes, waits for the 6 summaries, its exit code is the verdict
    let merge = kind(&docs, "Job", "t1-merge");
    let mpod = &merge["spec"]["template"]["spec"];
    let mc = &mpod["containers"][0];
    assert_eq!(mounts(mc), want);
    volumes(mpod);
    let script = strs(&mc["args"]).join("\n");
    assert!(script.contains("-ge 6 ]"), "{script}");
    assert!(script.contains(&format!("date -d {START_AT}")), "{script}");
    assert!(
        script.contains(
            "exec reprise report $dir/shard-*/ --out $dir/merged --profile /inputs/profile.toml"
        ),
        "{script}"
    );
    assert!(script.contains("dir=/results/t1"), "{script}");
    // shell command substitutions are escaped from Kubernetes' $(VAR) expansion
    assert!(
        !script.contains(" $(date") && script.contains("$$(date"),
        "{script}"
    );
    let mpolicy = &merge["spec"]["podFailurePolicy"];
    for code in [1, 2, 3] {
        assert_eq!(action(mpolicy, "merge", code).as_deref(), Some("FailJob"));
    }
}

#[test]
fn bad_parameters_are_refused_by_the_renderer() {
    for (var, value, msg) in [
        ("SHARDS", "0", "SHARDS=0 is not a positive number"),
        ("DURATION", "", "give the test's length in seconds"),
        (
            "RECORDING",
            "/nonexistent.trace.zst",
            "cannot read /nonexistent.trace.zst",
        ),
    ] {
        let r = Command::new(repo().join("deploy/k8s/render.sh"))
            .current_dir(repo())
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(2), "{var}={value}");
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(e.contains(msg), "{var}={value}: {e}");
    }
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schema_offline() {
    let has = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but kubernetes-validate is missing (.ci/run installs it from PyPI)"
        );
        eprintln!("\n*** SKIPPED schema check: kubernetes-validate is not installed (pip install kubernetes-validate) ***\n");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("test.yaml");
    let (text, _) = render(&file);
    let validate = |f: &Path| {
        Command::new("kubernetes-validate")
            .args(["--strict", "--quiet"])
            .arg(f)
            .output()
            .unwrap()
    };
    let r = validate(&file);
    assert!(
        r.status.success(),
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    // the validator does reject what the API server would: a count that is not a number,
    // an unknown field
    let broken = tmp.path().join("broken.yaml");
    std::fs::write(
        &broken,
        text.replace("completions: 6", "completions: \"six\""),
    )
    .unwrap();
    assert!(
        !validate(&broken).status.success(),
        "completions: six passed"
    );
    std::fs::write(
        &broken,
        text.replace(
            "completionMode: Indexed",
            "completionMode: Indexed\n  shards: 6",
        ),
    )
    .unwrap();
    assert!(
        !validate(&broken).status.success(),
        "an unknown field passed"
    );
}

#[test]
fn the_image_is_multi_stage_non_root_and_builds_where_docker_is() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(froms[0].ends_with(" AS build"));
    assert!(dockerfile.contains("USER 10001:10001"));
    assert!(dockerfile.contains("COPY profiles /opt/reprise/profiles"));
    assert!(dockerfile.contains("COPY --from=build /src/target/release/reprise"));
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "target"),
        "the build context skips target/"
    );

    let docker = Command::new("docker").arg("info").output();
    if !docker.is_ok_and(|o| o.status.success()) {
        eprintln!("\n*** SKIPPED image build: no Docker daemon here ***\n");
        return;
    }
    // never pull: no registry is reachable from CI; build only from base images present
    let bases: Vec<&str> = froms
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    let present = Command::new("docker")
        .args(["image", "inspect"])
        .args(&bases)
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!(
            "\n*** SKIPPED image build: base images {bases:?} are not present locally and no registry is reachable ***\n"
        );
        return;
    }
    let tag = "reprise-test:latest";
    let b = Command::new("docker")
        .args([
            "build",
            "--pull=false",
            "-f",
            "deploy/Dockerfile",
            "-t",
            tag,
            ".",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let r = Command::new("docker")
        .args(["run", "--rm", "--network=none", tag, "--version"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("reprise "));
    let u = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network=none",
            "--entrypoint",
            "id",
            tag,
            "-u",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&u.stdout).trim(), "10001");
}
