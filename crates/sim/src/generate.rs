//! Seeded generation of a realistic tenant: the same seed always gives the same tenant.
//!
//! The mix follows what a mail platform meets in real directories: mailboxes with aliases in
//! several domains (verified, initial `onmicrosoft.com`, and one unverified), users without a
//! mailbox, guests, sign-in-blocked shared and room mailboxes, the four group kinds, nested groups
//! (one cycle included), large groups, contacts and devices as members, and a few soft-deleted users.

use std::collections::{BTreeSet, HashMap, HashSet};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::clock;
use crate::model::{
    CONTACT_SCHEMA, DEVICE_SCHEMA, Directory, DirectoryObject, GROUP_SCHEMA, Lifecycle, ObjectKind,
    ObjectRef, Value,
};
use crate::tenant::{Application, ClientSecret, Domain, Settings, TenantState};

/// How big a tenant to generate.
#[derive(Clone, Copy, Debug)]
pub struct TenantSize {
    pub users: usize,
    pub groups: usize,
    /// Total direct memberships; `None` means about ten per group.
    pub memberships: Option<usize>,
}

const TENANT_NAMES: [&str; 10] = [
    "contoso",
    "fabrikam",
    "northwind",
    "adatum",
    "tailspin",
    "woodgrove",
    "litware",
    "proseware",
    "wingtip",
    "lucerne",
];

const FIRST_NAMES: [&str; 40] = [
    "Adele",
    "Alex",
    "Allan",
    "Bianca",
    "Brian",
    "Carlos",
    "Christie",
    "Debra",
    "Diego",
    "Emily",
    "Enrico",
    "Grady",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Sanjay",
    "Sara",
    "Stefan",
    "Tomasz",
    "Ulla",
    "Valentina",
    "Wei",
    "Xavier",
    "Yuki",
    "Zoe",
    "Amara",
    "Björn",
    "Chloé",
    "Dmitri",
];

const LAST_NAMES: [&str; 40] = [
    "Vance",
    "Wilber",
    "Deyoung",
    "Pinto",
    "Johnson",
    "Garcia",
    "Cline",
    "Berger",
    "Soto",
    "Braun",
    "Rossi",
    "Archie",
    "Mitchell",
    "Sink",
    "Little",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Caldwell",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Mendes",
    "Shah",
    "Davis",
    "Hansen",
    "Nowak",
    "Lindqvist",
    "Moretti",
    "Zhang",
    "Dupont",
    "Tanaka",
    "Okafor",
    "Nwosu",
    "Åström",
    "Lefèvre",
    "Ivanov",
];

const DEPARTMENTS: [&str; 10] = [
    "Sales",
    "Marketing",
    "Finance",
    "Legal",
    "Engineering",
    "Support",
    "Operations",
    "HR",
    "Research",
    "Facilities",
];

const JOB_TITLES: [&str; 8] = [
    "Account Manager",
    "Engineer",
    "Analyst",
    "Director",
    "Consultant",
    "Coordinator",
    "Designer",
    "Specialist",
];

const GUEST_DOMAINS: [&str; 3] = ["gmail.com", "outlook.com", "partner.example"];

/// The readable name of tenant `index`: contoso, fabrikam, …, then tenant10, tenant11, …
pub fn tenant_name(index: usize) -> String {
    TENANT_NAMES
        .get(index)
        .map_or_else(|| format!("tenant{index}"), |n| (*n).to_owned())
}

fn uuid(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// A secret value shaped like Entra's (40 characters with the `8Q~` marker).
fn secret_value(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
    let mut value: String = (0..3)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    value.push_str("8Q~");
    value.extend((0..34).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    value
}

/// A new secret, valid for two years from `now_unix`.
pub fn new_secret(rng: &mut impl Rng, now_unix: i64) -> ClientSecret {
    const TWO_YEARS: i64 = 2 * 365 * 24 * 3600;
    ClientSecret {
        key_id: uuid(rng),
        value: secret_value(rng),
        expires_at_unix: now_unix + TWO_YEARS,
    }
}

/// Generates tenant `index` of a simulator started with `seed`.
pub fn tenant(seed: u64, index: usize, size: TenantSize) -> TenantState {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index as u64),
    );
    let name = tenant_name(index);
    let domains = TenantDomains::new(&name);
    let tenant_id = uuid(&mut rng);
    let app = Application {
        client_id: uuid(&mut rng),
        display_name: "Roster directory sync".to_owned(),
        service_principal_id: uuid(&mut rng),
        secrets: vec![new_secret(&mut rng, clock::now_unix())],
        certificates: Vec::new(),
        roles: BTreeSet::from(["Directory.Read.All".to_owned()]),
    };
    let mut generator = Generator {
        rng,
        domains,
        directory: Directory::default(),
        taken: HashSet::new(),
        next_suffix: HashMap::new(),
    };
    generator.users(size.users);
    generator.contacts_and_devices(size.users);
    generator.groups(size.groups);
    let memberships = size.memberships.unwrap_or(size.groups * 10);
    generator.memberships(memberships);
    generator.soft_delete_a_few_users();
    TenantState {
        tenant_id,
        domains: generator.domains.listing(),
        app,
        settings: Settings::default(),
        delta_generation: 0,
        directory: generator.directory,
    }
}

struct TenantDomains {
    primary: String,
    secondary: String,
    initial: String,
    unverified: String,
}

impl TenantDomains {
    fn new(name: &str) -> Self {
        Self {
            primary: format!("{name}.com"),
            secondary: format!("{name}-europe.com"),
            initial: format!("{name}.onmicrosoft.com"),
            unverified: format!("{name}-legacy.net"),
        }
    }

    fn listing(&self) -> Vec<Domain> {
        let domain = |name: &String, is_verified, is_default, is_initial| Domain {
            name: name.clone(),
            is_verified,
            is_default,
            is_initial,
        };
        vec![
            domain(&self.primary, true, true, false),
            domain(&self.secondary, true, false, false),
            domain(&self.initial, true, false, true),
            domain(&self.unverified, false, false, false),
        ]
    }
}

struct Generator {
    rng: ChaCha8Rng,
    domains: TenantDomains,
    directory: Directory,
    /// Local parts already used, so every address is unique in the tenant.
    taken: HashSet<String>,
    next_suffix: HashMap<String, u32>,
}

/// Sets a value by property name (the names are this module's own constants).
fn set(object: &mut DirectoryObject, kind: ObjectKind, name: &str, value: Value) {
    object.values[kind.schema().required(name)] = value;
}

fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' => Some('-'),
            'ä' | 'å' | 'Å' | 'Ä' => Some('a'),
            'ö' | 'Ö' => Some('o'),
            'é' | 'è' => Some('e'),
            _ => None,
        })
        .collect()
}

impl Generator {
    /// `wanted`, or `wanted2`, `wanted3`, … whichever is free first. The next suffix to try is
    /// remembered per name, so a hundred thousand users stay fast.
    fn unique_local(&mut self, wanted: String) -> String {
        let mut local = wanted.clone();
        let next = self.next_suffix.entry(wanted.clone()).or_insert(2);
        while self.taken.contains(&local) {
            local = format!("{wanted}{next}");
            *next += 1;
        }
        self.taken.insert(local.clone());
        local
    }

    fn created_date(&mut self) -> Value {
        const START_2018: i64 = 1_514_764_800;
        const SPAN_SEVEN_YEARS: i64 = 7 * 365 * 24 * 3600;
        Value::Text(clock::iso_z(
            START_2018 + self.rng.random_range(0..SPAN_SEVEN_YEARS),
        ))
    }

    fn users(&mut self, count: usize) {
        for _ in 0..count {
            let roll: f64 = self.rng.random();
            let user = match roll {
                r if r < 0.05 => self.guest(),
                r if r < 0.12 => self.person(Mailbox::Without, true),
                r if r < 0.16 => self.resource_mailbox(),
                r if r < 0.18 => self.person(Mailbox::Yes, false),
                _ => self.person(Mailbox::Yes, true),
            };
            self.directory.insert(ObjectKind::User, user);
        }
    }

    fn person(&mut self, mailbox: Mailbox, enabled: bool) -> DirectoryObject {
        let first = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&"Alex");
        let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Vance");
        let local = self.unique_local(format!("{}.{}", slug(first), slug(last)));
        let domain = if self.rng.random_bool(0.85) {
            self.domains.primary.clone()
        } else {
            self.domains.secondary.clone()
        };
        let address = format!("{local}@{domain}");
        let mut user = self.new_user(&format!("{first} {last}"), &address, enabled);
        set(&mut user, ObjectKind::User, "givenName", Value::text(first));
        set(&mut user, ObjectKind::User, "surname", Value::text(last));
        set(
            &mut user,
            ObjectKind::User,
            "mailNickname",
            Value::text(local.clone()),
        );
        if self.rng.random_bool(0.6) {
            let title = *JOB_TITLES.choose(&mut self.rng).unwrap_or(&"Analyst");
            set(&mut user, ObjectKind::User, "jobTitle", Value::text(title));
            let department = *DEPARTMENTS.choose(&mut self.rng).unwrap_or(&"Sales");
            set(
                &mut user,
                ObjectKind::User,
                "department",
                Value::text(department),
            );
        }
        if self.rng.random_bool(0.3) {
            let phone = format!("+1 425 555 {:04}", self.rng.random_range(0..10_000));
            set(
                &mut user,
                ObjectKind::User,
                "businessPhones",
                Value::TextList(vec![phone]),
            );
        }
        if self.rng.random_bool(0.2) {
            set(
                &mut user,
                ObjectKind::User,
                "onPremisesSyncEnabled",
                Value::Bool(true),
            );
        }
        if mailbox == Mailbox::Yes {
            let proxies = self.proxy_addresses(&local, &address, first);
            set(&mut user, ObjectKind::User, "mail", Value::text(address));
            set(
                &mut user,
                ObjectKind::User,
                "proxyAddresses",
                Value::TextList(proxies),
            );
        }
        user
    }

    fn new_user(&mut self, display_name: &str, upn: &str, enabled: bool) -> DirectoryObject {
        let mut user = DirectoryObject::new(ObjectKind::User, uuid(&mut self.rng));
        set(
            &mut user,
            ObjectKind::User,
            "displayName",
            Value::text(display_name),
        );
        set(
            &mut user,
            ObjectKind::User,
            "userPrincipalName",
            Value::text(upn),
        );
        set(
            &mut user,
            ObjectKind::User,
            "accountEnabled",
            Value::Bool(enabled),
        );
        set(
            &mut user,
            ObjectKind::User,
            "userType",
            Value::text("Member"),
        );
        let created = self.created_date();
        set(&mut user, ObjectKind::User, "createdDateTime", created);
        if self.rng.random_bool(0.5) {
            set(
                &mut user,
                ObjectKind::User,
                "preferredLanguage",
                Value::text("en-US"),
            );
        }
        user
    }

    /// The primary `SMTP:` address, 0–3 `smtp:` aliases, sometimes `X500:`/`SIP:` entries, and
    /// now and then the documented `SMTP: x` form with a space after the prefix.
    fn proxy_addresses(&mut self, local: &str, address: &str, first: &str) -> Vec<String> {
        let separator = if self.rng.random_bool(0.03) {
            ": "
        } else {
            ":"
        };
        let mut proxies = vec![format!("SMTP{separator}{address}")];
        let aliases = [
            format!("smtp:{local}@{}", self.domains.initial),
            format!("smtp:{}.{local}@{}", slug(first), self.domains.primary),
            format!("smtp:{local}@{}", self.domains.secondary),
            format!("smtp:{local}@{}", self.domains.unverified),
        ];
        let count = self.rng.random_range(0..=3);
        for alias in aliases.choose_multiple(&mut self.rng, count) {
            if !alias.ends_with(address) {
                proxies.push(alias.clone());
            }
        }
        if self.rng.random_bool(0.05) {
            let cn: u64 = self.rng.random();
            proxies.push(format!(
                "X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={cn:016x}-{local}"
            ));
        }
        if self.rng.random_bool(0.05) {
            proxies.push(format!("SIP:{address}"));
        }
        proxies
    }

    fn guest(&mut self) -> DirectoryObject {
        let first = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&"Alex");
        let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Vance");
        let external_domain = *GUEST_DOMAINS.choose(&mut self.rng).unwrap_or(&"gmail.com");
        let local = self.unique_local(format!("{}.{}.guest", slug(first), slug(last)));
        let external = format!("{local}@{external_domain}");
        let nickname = format!("{}#EXT#", external.replace('@', "_"));
        let upn = format!("{nickname}@{}", self.domains.initial);
        let mut user = self.new_user(&format!("{first} {last} (Guest)"), &upn, true);
        set(
            &mut user,
            ObjectKind::User,
            "userType",
            Value::text("Guest"),
        );
        set(
            &mut user,
            ObjectKind::User,
            "mail",
            Value::text(external.clone()),
        );
        set(
            &mut user,
            ObjectKind::User,
            "mailNickname",
            Value::text(nickname),
        );
        set(
            &mut user,
            ObjectKind::User,
            "otherMails",
            Value::TextList(vec![external.clone()]),
        );
        set(
            &mut user,
            ObjectKind::User,
            "proxyAddresses",
            Value::TextList(vec![format!("SMTP:{external}")]),
        );
        user
    }

    /// Shared and room mailboxes: sign-in blocked, still receiving mail.
    fn resource_mailbox(&mut self) -> DirectoryObject {
        let (display_name, wanted) = if self.rng.random_bool(0.5) {
            let department = *DEPARTMENTS.choose(&mut self.rng).unwrap_or(&"Sales");
            (
                format!("{department} Shared Mailbox"),
                format!("{}-shared", slug(department)),
            )
        } else {
            let room = self.rng.random_range(1..400);
            (format!("Conference Room {room}"), format!("room-{room}"))
        };
        let local = self.unique_local(wanted);
        let address = format!("{local}@{}", self.domains.primary);
        let mut user = self.new_user(&display_name, &address, false);
        set(
            &mut user,
            ObjectKind::User,
            "mailNickname",
            Value::text(local.clone()),
        );
        set(
            &mut user,
            ObjectKind::User,
            "mail",
            Value::text(address.clone()),
        );
        let proxies = vec![
            format!("SMTP:{address}"),
            format!("smtp:{local}@{}", self.domains.initial),
        ];
        set(
            &mut user,
            ObjectKind::User,
            "proxyAddresses",
            Value::TextList(proxies),
        );
        user
    }

    fn contacts_and_devices(&mut self, users: usize) {
        for n in 0..(users / 200).max(2) {
            let mut contact = DirectoryObject::new(ObjectKind::OrgContact, uuid(&mut self.rng));
            let mail = format!("vendor{n}@supplier.example");
            let values = [
                ("companyName", Value::text("Supplier Ltd")),
                ("displayName", Value::text(format!("Vendor Contact {n}"))),
                ("mail", Value::text(mail.clone())),
                ("mailNickname", Value::text(format!("vendor{n}"))),
                (
                    "proxyAddresses",
                    Value::TextList(vec![format!("SMTP:{mail}")]),
                ),
            ];
            for (name, value) in values {
                contact.values[CONTACT_SCHEMA.required(name)] = value;
            }
            self.directory.insert(ObjectKind::OrgContact, contact);
        }
        for n in 0..(users / 100).max(2) {
            let mut device = DirectoryObject::new(ObjectKind::Device, uuid(&mut self.rng));
            let device_id = uuid(&mut self.rng);
            let values = [
                ("accountEnabled", Value::Bool(true)),
                ("deviceId", Value::text(device_id)),
                ("displayName", Value::text(format!("LAPTOP-{n:05}"))),
                ("operatingSystem", Value::text("Windows")),
                ("operatingSystemVersion", Value::text("10.0.22631.3880")),
            ];
            for (name, value) in values {
                device.values[DEVICE_SCHEMA.required(name)] = value;
            }
            self.directory.insert(ObjectKind::Device, device);
        }
    }

    fn groups(&mut self, count: usize) {
        for n in 0..count {
            let department = *DEPARTMENTS.choose(&mut self.rng).unwrap_or(&"Sales");
            let roll: f64 = self.rng.random();
            let kind = match roll {
                r if r < 0.25 => GroupKind::MicrosoftTeam,
                r if r < 0.50 => GroupKind::Distribution,
                r if r < 0.65 => GroupKind::MailEnabledSecurity,
                _ => GroupKind::Security,
            };
            let display_name = format!("{department} {} {n}", kind.noun());
            let nickname = self.unique_local(slug(&display_name));
            let group = self.group(kind, &display_name, &nickname, department);
            self.directory.insert(ObjectKind::Group, group);
        }
    }

    fn group(
        &mut self,
        kind: GroupKind,
        display_name: &str,
        nickname: &str,
        department: &str,
    ) -> DirectoryObject {
        let mut group = DirectoryObject::new(ObjectKind::Group, uuid(&mut self.rng));
        let (mail_enabled, security_enabled) = kind.flags();
        let created = self.created_date();
        let values = [
            ("createdDateTime", created.clone()),
            ("renewedDateTime", created),
            (
                "description",
                Value::text(format!("{} for {department}", kind.noun())),
            ),
            ("displayName", Value::text(display_name)),
            ("mailEnabled", Value::Bool(mail_enabled)),
            ("securityEnabled", Value::Bool(security_enabled)),
            ("mailNickname", Value::text(nickname)),
        ];
        for (name, value) in values {
            set(&mut group, ObjectKind::Group, name, value);
        }
        if mail_enabled {
            let address = format!("{nickname}@{}", self.domains.primary);
            let proxies = vec![
                format!("SMTP:{address}"),
                format!("smtp:{nickname}@{}", self.domains.initial),
            ];
            set(&mut group, ObjectKind::Group, "mail", Value::text(address));
            set(
                &mut group,
                ObjectKind::Group,
                "proxyAddresses",
                Value::TextList(proxies),
            );
        }
        if kind == GroupKind::MicrosoftTeam {
            set(
                &mut group,
                ObjectKind::Group,
                "groupTypes",
                Value::TextList(vec!["Unified".to_owned()]),
            );
            let visibility = if self.rng.random_bool(0.7) {
                "Public"
            } else {
                "Private"
            };
            set(
                &mut group,
                ObjectKind::Group,
                "visibility",
                Value::text(visibility),
            );
        }
        group
    }

    /// Spreads `total` direct memberships over the groups: a few large groups (more than 1,000
    /// members, when the tenant has the users for it) take up to 30% of them, the rest follow a
    /// skewed distribution. Nested groups, one two-group cycle, contacts and devices are included.
    fn memberships(&mut self, total: usize) {
        let users = self.directory.users.len();
        let groups = self.directory.groups.len();
        if groups == 0 {
            return;
        }
        let mut remaining = total;
        let mut large = Vec::new();
        if users > 1_000 {
            let mut budget = total * 3 / 10;
            while large.len() < 3.min(groups) && budget > 1_000 {
                let size = self.rng.random_range(1_001..=users.min(2_500)).min(budget);
                if size <= 1_000 {
                    break;
                }
                large.push((large.len(), size));
                budget -= size;
                remaining -= size;
            }
        }
        let others: Vec<usize> = (large.len()..groups).collect();
        let weights: Vec<f64> = others
            .iter()
            .map(|_| (self.rng.random::<f64>() * 3.0).exp())
            .collect();
        let weight_sum: f64 = weights.iter().sum();
        let mut sizes: Vec<(usize, usize)> = large;
        for (group, weight) in others.iter().zip(&weights) {
            let size = ((remaining as f64) * weight / weight_sum).round() as usize;
            sizes.push((*group, size.min(users)));
        }
        for (group, size) in sizes {
            let chosen = rand::seq::index::sample(&mut self.rng, users, size.min(users));
            let members = &mut self.directory.groups[group].members;
            members.extend(chosen.iter().map(|slot| ObjectRef {
                kind: ObjectKind::User,
                slot: slot as u32,
            }));
        }
        self.nest_groups(groups);
        self.add_contacts_and_devices(groups);
    }

    fn nest_groups(&mut self, groups: usize) {
        let group_ref = |slot: usize| ObjectRef {
            kind: ObjectKind::Group,
            slot: slot as u32,
        };
        if groups >= 2 {
            // A cycle: the last two groups contain each other.
            self.directory.groups[groups - 1]
                .members
                .push(group_ref(groups - 2));
            self.directory.groups[groups - 2]
                .members
                .push(group_ref(groups - 1));
        }
        for parent in 0..groups {
            if groups > 2 && self.rng.random_bool(0.08) {
                let child = self.rng.random_range(0..groups);
                let members = &mut self.directory.groups[parent].members;
                if child != parent && !members.contains(&group_ref(child)) {
                    members.push(group_ref(child));
                }
            }
        }
    }

    fn add_contacts_and_devices(&mut self, groups: usize) {
        let mail_enabled = GROUP_SCHEMA.required("mailEnabled");
        for slot in 0..groups {
            if !self.rng.random_bool(0.1) {
                continue;
            }
            let is_mail_group =
                self.directory.groups[slot].values[mail_enabled] == Value::Bool(true);
            let (kind, available) = if is_mail_group {
                (ObjectKind::OrgContact, self.directory.contacts.len())
            } else {
                (ObjectKind::Device, self.directory.devices.len())
            };
            let member = ObjectRef {
                kind,
                slot: self.rng.random_range(0..available) as u32,
            };
            let members = &mut self.directory.groups[slot].members;
            if !members.contains(&member) {
                members.push(member);
            }
        }
    }

    /// A few users sit in the recycle bin, so even an initial delta round carries `@removed`.
    fn soft_delete_a_few_users(&mut self) {
        let users = self.directory.users.len();
        for _ in 0..users / 300 {
            let slot = self.rng.random_range(0..users);
            self.directory.users[slot].lifecycle = Lifecycle::SoftDeleted;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mailbox {
    Yes,
    Without,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    MicrosoftTeam,
    Distribution,
    MailEnabledSecurity,
    Security,
}

impl GroupKind {
    fn flags(self) -> (bool, bool) {
        match self {
            Self::MicrosoftTeam | Self::Distribution => (true, false),
            Self::MailEnabledSecurity => (true, true),
            Self::Security => (false, true),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::MicrosoftTeam => "Team",
            Self::Distribution => "List",
            Self::MailEnabledSecurity => "Access",
            Self::Security => "Security",
        }
    }
}
