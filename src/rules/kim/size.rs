//! Size limits (KOM-LE-A_2004-01, A_23171, A_19357, A_19366). Limits count the net size: the
//! header plus the decoded content of every part. On the wire base64 makes a mail about 1.37
//! times larger (KOM-LE-A_2004-01), so the raw size alone decides nothing above the limit.
//! Which requirement governs which limit in which KIM version is data (`kim_profiles.yaml`).

use mail_parser::PartType;

use super::profile::{OverLimit, profile_data};
use super::{Kind, part_disposition, with_profile};
use crate::message::Message;
use crate::rules::{Emitter, Location, Profile, Rule, RuleContext};

/// Net size: header bytes plus decoded leaf contents (attached messages count raw).
pub fn net_size(msg: &Message, attachments: bool) -> Option<u64> {
    let parsed = msg.parsed()?;
    let mut total = msg.body_start() as u64;
    for part in &parsed.parts {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if !attachments && part_disposition(part).as_deref() == Some("attachment") {
            continue;
        }
        total += part.len() as u64;
    }
    Some(total)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

fn explain(gross: u64, net: u64) -> String {
    let factor = if net > 0 {
        gross as f64 / net as f64
    } else {
        0.0
    };
    format!(
        "net {net} bytes ({}), on the wire {gross} bytes ({}), factor {factor:.2}; limits count the \
         net size, base64 transfer adds about 37% (factor 1.37, KOM-LE-A_2004-01)",
        mib(net),
        mib(gross)
    )
}

/// The 15 MB client-mail limit; the requirement that governs it per profile is data.
pub struct ClientMailLimit {
    requirement: &'static str,
    over_limit: OverLimit,
}

pub static CLIENT_MAIL_LIMIT_REJECT: ClientMailLimit = ClientMailLimit {
    requirement: "A_23171",
    over_limit: OverLimit::Reject,
};
pub static CLIENT_MAIL_LIMIT_KAS: ClientMailLimit = ClientMailLimit {
    requirement: "A_19357",
    over_limit: OverLimit::Kas,
};

impl Rule for ClientMailLimit {
    fn id(&self) -> &'static str {
        match self.over_limit {
            OverLimit::Reject => "kim/client-mail-limit",
            OverLimit::Kas => "kim/kas-threshold",
        }
    }
    fn requirement(&self) -> &'static str {
        self.requirement
    }
    fn description(&self) -> &'static str {
        match self.over_limit {
            OverLimit::Reject => {
                "A client mail above the 15 MB net limit cannot be sent in this KIM version; the \
                 Clientmodul answers X.3.4 (limit and governing requirement from kim_profiles.yaml)."
            }
            OverLimit::Kas => {
                "A KOM-LE message never carries more than 15 MB net itself: a larger client mail \
                 goes to the KAS (limit and governing requirement from kim_profiles.yaml)."
            }
        }
    }
    fn applies_to(&self, profile: Profile) -> bool {
        profile_data(profile).is_some_and(|p| {
            p.client_mail_limit.requirement == self.requirement
                && p.client_mail_limit.over_limit == self.over_limit
        })
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some((_, profile)) = with_profile(ctx.profile, out) else {
            return;
        };
        let limit = profile.client_mail_limit.bytes;
        let kind = Kind::of(msg);
        let judged = matches!(kind, Kind::ClientMail | Kind::KomLe);
        if !judged {
            out.not_evaluated(format!(
                "{} is not a client mail or KOM-LE message",
                kind.describe()
            ));
            return;
        }
        let gross = msg.raw().len() as u64;
        if gross <= limit {
            return; // net <= gross
        }
        let Some(net) = net_size(msg, true) else {
            out.not_evaluated("the MIME structure could not be read");
            return;
        };
        if net <= limit {
            return;
        }
        let sizes = explain(gross, net);
        match (self.over_limit, kind) {
            (OverLimit::Reject, _) => out.error(
                Location::Message,
                format!(
                    "{} exceeds the client-mail limit of {limit} bytes ({}): {sizes}; in profile {} \
                     a Clientmodul must refuse it with X.3.4",
                    kind.describe(),
                    mib(limit),
                    ctx.profile.as_str()
                ),
            ),
            (OverLimit::Kas, Kind::KomLe) => out.error(
                Location::Message,
                format!(
                    "the KOM-LE message itself carries more than {limit} bytes ({}): {sizes}; a \
                     client mail that large must be stored on the KAS and replaced by the \
                     KIM-Attachment structure",
                    mib(limit)
                ),
            ),
            (OverLimit::Kas, _) => out.warning(
                Location::Message,
                format!(
                    "the client mail exceeds {limit} bytes ({}): {sizes}; the Clientmodul will \
                     store it on the KAS and only recipients with KIM 1.5 can receive it",
                    mib(limit)
                ),
            ),
        }
    }
}

/// A_19366: the body without attachments stays within 25 MB net (KIM 1.5).
pub struct BodyLimit;

impl Rule for BodyLimit {
    fn id(&self) -> &'static str {
        "kim/body-limit"
    }
    fn requirement(&self) -> &'static str {
        "A_19366"
    }
    fn description(&self) -> &'static str {
        "The mail body without attachments stays within 25 MB net; larger is answered with X.3.4 \
         (limit from kim_profiles.yaml)."
    }
    fn applies_to(&self, profile: Profile) -> bool {
        profile_data(profile)
            .and_then(|p| p.body_limit.as_ref())
            .is_some_and(|b| b.requirement == self.requirement())
    }
    fn check(&self, msg: &Message, ctx: &RuleContext, out: &mut Emitter) {
        let Some(limit) = profile_data(ctx.profile)
            .and_then(|p| p.body_limit.as_ref())
            .map(|b| b.bytes)
        else {
            out.not_evaluated("no body limit in this profile");
            return;
        };
        let kind = Kind::of(msg);
        if kind != Kind::ClientMail {
            out.not_evaluated(format!("{} is not a client mail", kind.describe()));
            return;
        }
        let gross = msg.raw().len() as u64;
        if gross <= limit {
            return;
        }
        let Some(net) = net_size(msg, false) else {
            out.not_evaluated("the MIME structure could not be read");
            return;
        };
        if net > limit {
            out.error(
                Location::Message,
                format!(
                    "the body without attachments is {net} bytes ({}), above the limit of {limit} \
                     bytes ({}); whole message: {}; a Clientmodul answers X.3.4",
                    mib(net),
                    mib(limit),
                    explain(gross, net_size(msg, true).unwrap_or(net))
                ),
            );
        }
    }
}
