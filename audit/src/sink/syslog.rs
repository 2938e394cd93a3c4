//! `syslog://`: one RFC 5424 message per event (app `openshell`, msgid `audit`, facility
//! `authpriv`, severity notice), the event's JSON as the message, over a unix socket or UDP.

use fasyslog::format::SyslogContext;
use fasyslog::sender::{SyslogSender, UdpSender, unix};
use fasyslog::{Facility, Severity};

use super::{DeliveryError, Sink};
use crate::destination::SyslogTarget;

pub(crate) struct SyslogSink {
    target: SyslogTarget,
    sender: Option<SyslogSender>,
}

impl SyslogSink {
    pub(crate) fn new(target: SyslogTarget) -> SyslogSink {
        SyslogSink {
            target,
            sender: None,
        }
    }

    fn connect(&self) -> std::io::Result<SyslogSender> {
        let mut context = SyslogContext::new();
        context.facility(Facility::AUTHPRIV).appname("openshell");
        let mut sender = match &self.target {
            SyslogTarget::Unix(path) => unix(path)?,
            SyslogTarget::Udp(addr) => {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                SyslogSender::Udp(UdpSender::connect(local, addr)?)
            }
        };
        match &mut sender {
            SyslogSender::Udp(s) => s.set_context(context),
            SyslogSender::UnixDatagram(s) => s.set_context(context),
            SyslogSender::UnixStream(s) => s.set_context(context),
            SyslogSender::Tcp(_) => {}
        }
        Ok(sender)
    }
}

impl Sink for SyslogSink {
    fn deliver(&mut self, lines: &[String]) -> Result<(), DeliveryError> {
        let target = format!("{:?}", self.target);
        let fail = |e: std::io::Error| DeliveryError::Transient(format!("syslog {target}: {e}"));
        if self.sender.is_none() {
            self.sender = Some(self.connect().map_err(fail)?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        let result = lines
            .iter()
            .try_for_each(|line| {
                sender.send_rfc5424(Severity::NOTICE, Some("audit"), Vec::new(), line)
            })
            .and_then(|()| sender.flush());
        result.map_err(|e| {
            self.sender = None;
            fail(e)
        })
    }
}
