//! A real, minimal SMTP server for tests: it accepts every mail on a random
//! local port and keeps the raw messages for assertions. Enough of RFC 5321
//! for lettre: EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing), RSET,
//! NOOP, QUIT.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One received mail.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body, CRLF line ends).
    pub data: String,
}

pub struct SmtpServer {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// While false, every MAIL command gets a temporary failure (a mail
    /// server that is down for deliveries).
    accepting: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let url = format!("smtp://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepting = Arc::new(Mutex::new(true));
        let task = {
            let (received, accepting) = (received.clone(), accepting.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, received.clone(), accepting.clone()));
                }
            })
        };
        Self {
            url,
            received,
            accepting,
            task,
        }
    }

    pub fn set_accepting(&self, accepting: bool) {
        if let Ok(mut flag) = self.accepting.lock() {
            *flag = accepting;
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|mails| mails.clone()).unwrap_or_default()
    }

    /// Waits (up to 10 s) until `count` mails arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let mails = self.received();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} mails, got {}", self.received().len());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, received: Arc<Mutex<Vec<Received>>>, accepting: Arc<Mutex<bool>>) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader);
    let _ = writer.write_all(b"220 test.localhost ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-test.localhost\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned()
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK".to_owned()
        } else if upper.starts_with("RSET") {
            (from, to) = (String::new(), Vec::new());
            "250 OK".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            if !accepting.lock().map(|flag| *flag).unwrap_or(true) {
                "451 try again later".to_owned()
            } else {
                from = command[10..].trim().to_owned();
                "250 OK".to_owned()
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            "250 OK".to_owned()
        } else if upper == "DATA" {
            let _ = writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            if let Ok(mut mails) = received.lock() {
                mails.push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
            }
            "250 queued".to_owned()
        } else if upper.starts_with("QUIT") {
            let _ = writer.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 not implemented".to_owned()
        };
        if writer.write_all(format!("{answer}\r\n").as_bytes()).await.is_err() {
            return;
        }
    }
}
