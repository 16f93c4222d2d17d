//! The realistic mix, as an open model: each kind of client arrives at its own constant rate,
//! whether or not earlier requests have been answered, so a stalled server shows as latency and
//! errors instead of slowing the load down. Every answer is kept as a sample; every mutation the
//! API acknowledged is written down, to be looked for in the database afterwards.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

const KPI: &str = "{ kpiReport(fiscalYears: [2024], groupBy: [BED_BAND, PREFECTURE]) { metric bedBand prefectureCode numerator denominator rate suppressed } }";
const ORGANISATIONS: &str = "query($after: String) { organisations(first: 50, after: $after) { nodes { id name kind licensedBeds prefecture { code nameJa } } pageInfo { endCursor hasNextPage } } }";
const ORGANISATION: &str = "query($id: ID!) { organisation(id: $id) { id name kind licensedBeds prefecture { code nameJa } healthCentre { id name } } }";
const SAVE: &str = "mutation($answers: [ChecklistAnswerInput!]!) { saveChecklistDraft(fiscalYear: 2025, form: HOSPITAL, answers: $answers) { id } }";
const SUBMIT: &str = "mutation($id: ID!) { submitChecklist(id: $id) { id revision } }";
const REPORT: &str = "mutation($input: IncidentReportInput!) { reportIncident(input: $input) { id } }";
const MOVE: &str = "mutation($id: ID!) { moveIncident(id: $id, to: INITIAL_RESPONSE) { id phase } }";
const BUNDLE: &str = "mutation($p: Int) { requestReportingBundle(fiscalYear: 2024, prefecture: $p) { id } }";

/// One answered (or failed) request.
#[derive(Clone, Debug)]
pub struct Sample {
    pub op: &'static str,
    /// Seconds since the load started, when the request was sent.
    pub at: f64,
    pub latency: Duration,
    /// `ok`, the GraphQL error code, `http_<status>`, `timeout`, `connect` or `transport`.
    pub outcome: String,
}

impl Sample {
    /// Seconds since the load started, when the answer (or the failure) came: a request belongs
    /// to the window it ended in.
    pub fn done(&self) -> f64 {
        self.at + self.latency.as_secs_f64()
    }
}

/// A mutation the API said it did.
#[derive(Clone, Debug)]
pub enum Acked {
    Submitted { submission: String, revision: i64, checked_on: String, request_id: String },
    Saved { submission: String, request_id: String },
    Incident { id: String, title: String, request_id: String },
    Moved { id: String, request_id: String },
    Bundle { id: String, request_id: String },
}

impl Acked {
    pub fn request_id(&self) -> &str {
        match self {
            Acked::Submitted { request_id, .. }
            | Acked::Saved { request_id, .. }
            | Acked::Incident { request_id, .. }
            | Acked::Moved { request_id, .. }
            | Acked::Bundle { request_id, .. } => request_id,
        }
    }
}

/// Who the clients are.
pub struct Actors {
    pub dashboard: String,
    pub national: String,
    pub prefectures: Vec<String>,
    /// (token, hospital id) of the hospital admins.
    pub hospitals: Vec<(String, String)>,
    /// Hospitals to read one by one.
    pub hospital_ids: Vec<String>,
    /// Cursors into the organisations list, so pages come from all over it.
    pub cursors: Vec<String>,
    /// The FY2025 hospital form: (code, answer type, first choice).
    pub items: Vec<(String, String, Option<String>)>,
}

/// Arrivals per second of each kind of client.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub kpi: f64,
    pub organisations: f64,
    pub organisation: f64,
    pub checklist: f64,
    pub incident: f64,
    pub bundle: f64,
}

impl Rates {
    pub fn scaled(scale: f64) -> Self {
        Self {
            kpi: 2.0 * scale,
            organisations: 8.0 * scale,
            organisation: 8.0 * scale,
            checklist: 2.0 * scale,
            incident: 1.0 * scale,
            bundle: 0.05 * scale,
        }
    }
}

pub struct Load {
    client: reqwest::Client,
    url: String,
    pub t0: Instant,
    pub samples: Mutex<Vec<Sample>>,
    pub acked: Mutex<Vec<Acked>>,
    seq: AtomicU64,
    actors: Actors,
    /// Hospitals not in the middle of a checklist: one form at a time per hospital, as a person.
    idle: Mutex<VecDeque<usize>>,
}

fn pick<T>(v: &[T]) -> &T {
    use rand::Rng;
    &v[rand::rng().random_range(0..v.len())]
}

impl Load {
    pub fn new(api_url: &str, actors: Actors) -> Arc<Self> {
        let idle = (0..actors.hospitals.len()).collect();
        Arc::new(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            url: format!("{api_url}/graphql"),
            t0: Instant::now(),
            samples: Mutex::default(),
            acked: Mutex::default(),
            seq: AtomicU64::new(0),
            actors,
            idle: Mutex::new(idle),
        })
    }

    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// One GraphQL request; the data on success, with the request id the API was given.
    async fn gql(&self, op: &'static str, token: &str, query: &str, variables: Value) -> Option<(Value, String)> {
        let request_id = format!("resilience-{}", self.seq.fetch_add(1, Ordering::Relaxed));
        let at = self.now();
        let started = Instant::now();
        let sent = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .header("x-request-id", &request_id)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await;
        let (outcome, data) = match sent {
            Err(e) => (transport_kind(&e), None),
            Ok(res) => {
                let status = res.status();
                match res.json::<Value>().await {
                    Err(e) => (transport_kind(&e), None),
                    Ok(body) => match body["errors"][0]["extensions"]["code"].as_str() {
                        Some(code) => (code.to_owned(), None),
                        None if body.get("errors").is_some() => ("ERROR".to_owned(), None),
                        None if !status.is_success() => (format!("http_{}", status.as_u16()), None),
                        None => ("ok".to_owned(), Some(body["data"].clone())),
                    },
                }
            }
        };
        let sample = Sample { op, at, latency: started.elapsed(), outcome };
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
        data.map(|d| (d, request_id))
    }

    fn ack(&self, a: Acked) {
        self.acked.lock().unwrap_or_else(|p| p.into_inner()).push(a);
    }

    async fn kpi_report(self: Arc<Self>) {
        self.gql("kpiReport", &self.actors.dashboard, KPI, json!({})).await;
    }

    async fn organisations(self: Arc<Self>) {
        let token = pick(&self.actors.prefectures);
        let after = pick(&self.actors.cursors);
        // The national list: a prefecture's is a slice of it, so the ministry's pages are the larger reads.
        let token = if rand::random::<bool>() { token } else { &self.actors.national };
        self.gql("organisations", token, ORGANISATIONS, json!({ "after": after })).await;
    }

    async fn organisation(self: Arc<Self>) {
        let id = pick(&self.actors.hospital_ids);
        self.gql("organisation", &self.actors.national, ORGANISATION, json!({ "id": id })).await;
    }

    /// A hospital's security manager fills in the form and submits it.
    async fn checklist(self: Arc<Self>) {
        let Some(h) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
        let (token, _) = &self.actors.hospitals[h];
        let n = self.seq.load(Ordering::Relaxed);
        let checked_on = (chrono::NaiveDate::from_ymd_opt(2025, 4, 1).expect("date")
            + chrono::Duration::days((n % 300) as i64))
        .to_string();
        let answers: Vec<Value> = self
            .actors
            .items
            .iter()
            .map(|(code, kind, choice)| match kind.as_str() {
                "YES_NO" => json!({ "code": code, "value": "yes", "checkedOn": checked_on }),
                "NUMBER" => json!({ "code": code, "value": "3" }),
                "DATE" => json!({ "code": code, "value": checked_on }),
                "MULTI_CHOICE" => json!({ "code": code, "values": [choice] }),
                _ => json!({ "code": code, "value": choice }),
            })
            .collect();
        if let Some((data, request_id)) =
            self.gql("saveChecklistDraft", token, SAVE, json!({ "answers": answers })).await
        {
            let submission = data["saveChecklistDraft"]["id"].as_str().unwrap_or_default().to_owned();
            self.ack(Acked::Saved { submission: submission.clone(), request_id });
            if let Some((data, request_id)) =
                self.gql("submitChecklist", token, SUBMIT, json!({ "id": submission })).await
            {
                let revision = data["submitChecklist"]["revision"].as_i64().unwrap_or_default();
                self.ack(Acked::Submitted { submission, revision, checked_on, request_id });
            }
        }
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push_back(h);
    }

    /// A hospital reports a suspected attack, then moves it to initial response.
    async fn incident(self: Arc<Self>) {
        let (token, _) = pick(&self.actors.hospitals).clone();
        let title = format!("負荷試験の不審メール {}", self.seq.fetch_add(1, Ordering::Relaxed));
        let input = json!({
            "title": title, "kind": "PHISHING", "discoveredAt": chrono::Utc::now().to_rfc3339(),
            "suspectedCyberAttack": true, "locationAndImpact": "事務部門の端末1台",
        });
        let Some((data, request_id)) = self.gql("reportIncident", &token, REPORT, json!({ "input": input })).await
        else {
            return;
        };
        let id = data["reportIncident"]["id"].as_str().unwrap_or_default().to_owned();
        self.ack(Acked::Incident { id: id.clone(), title, request_id });
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some((_, request_id)) = self.gql("moveIncident", &token, MOVE, json!({ "id": id })).await {
            self.ack(Acked::Moved { id, request_id });
        }
    }

    async fn bundle(self: Arc<Self>) {
        use rand::Rng;
        let prefecture = rand::rng().random_range(1..=47);
        if let Some((data, request_id)) =
            self.gql("requestReportingBundle", &self.actors.national, BUNDLE, json!({ "p": prefecture })).await
        {
            let id = data["requestReportingBundle"]["id"].as_str().unwrap_or_default().to_owned();
            self.ack(Acked::Bundle { id, request_id });
        }
    }
}

fn transport_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
    .to_owned()
}

/// Runs the mix until `stop` turns true, then waits for the requests still under way.
pub async fn run(load: Arc<Load>, rates: Rates, stop: watch::Receiver<bool>) {
    type Client = fn(Arc<Load>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let clients: [(f64, Client); 6] = [
        (rates.kpi, |l| Box::pin(l.kpi_report())),
        (rates.organisations, |l| Box::pin(l.organisations())),
        (rates.organisation, |l| Box::pin(l.organisation())),
        (rates.checklist, |l| Box::pin(l.checklist())),
        (rates.incident, |l| Box::pin(l.incident())),
        (rates.bundle, |l| Box::pin(l.bundle())),
    ];
    let mut arrivals = JoinSet::new();
    for (rate, client) in clients {
        if rate <= 0.0 {
            continue;
        }
        let (load, mut stop) = (load.clone(), stop.clone());
        arrivals.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            // Arrivals missed while the runtime was busy are sent at once: the rate holds.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut requests = JoinSet::new();
            loop {
                tokio::select! {
                    _ = tick.tick() => { requests.spawn(client(load.clone())); }
                    // The guard `wait_for` returns must not live across an await.
                    () = async { drop(stop.wait_for(|s| *s).await) } => break,
                }
                while requests.try_join_next().is_some() {}
            }
            while requests.join_next().await.is_some() {}
        });
    }
    drop(stop);
    while arrivals.join_next().await.is_some() {}
}
