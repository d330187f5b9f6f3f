//! The boot-time RPC transport for `tdsigner_node::chain_time`: before the
//! sealing key exists there is no `Runtime` (it opens the P2P listeners), so
//! the light-client walk that bounds the collateral check time calls the
//! configured RPC endpoints over the bare network stack.

use alloc::vec::Vec;

use serde_json::Value;
use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::pool::{answer_from_body, Caller};
use tdsigner_near::rpc::request::Request;
use tdsigner_near::rpc::stream::{CallError, StreamError};
use tdsigner_node::config::RpcUrl;

use crate::net::Network;
use crate::guest::runtime::{rpc_call, RpcTls};

/// The configured endpoints over the boot network.
pub struct BootRpc<'a> {
    pub net: &'a mut Network,
    pub urls: &'a [RpcUrl],
    pub tls: RpcTls,
}

impl BootRpc<'_> {
    /// Which endpoints the host cannot impersonate.
    pub fn https(&self) -> Vec<bool> {
        self.urls.iter().map(|u| u.tls).collect()
    }
}

impl Caller for BootRpc<'_> {
    fn endpoints(&self) -> usize {
        self.urls.len()
    }

    fn call(&mut self, endpoint: usize, req: &Request, limits: Limits) -> Result<Value, CallError> {
        let url = self.urls.get(endpoint).ok_or(CallError::Stream(StreamError::Connect))?;
        let body = rpc_call(&mut *self.net, url, &mut self.tls, &req.body)?;
        answer_from_body(&body, req, limits)
    }
}
