//! DLPack-compatible data types and devices (dlpack.h v1.1 `DLDataType`, `DLDevice`).

use abi_stable::StableAbi;
use std::fmt;

/// DLPack type codes (`DLDataTypeCode`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::dtype::code, DType};
/// assert_eq!((DType::F16.code, DType::BF16.code, DType::U8.code), (code::FLOAT, code::BFLOAT, code::UINT));
/// assert_eq!((DType::I32.code, DType::BOOL.code), (code::INT, code::BOOL));
/// ```
pub mod code {
    /// Signed integer (`kDLInt`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::DType::I64.code, ferrite_sdk::abi::dtype::code::INT);
    /// ```
    pub const INT: u8 = 0;
    /// Unsigned integer (`kDLUInt`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::DType::U8.code, ferrite_sdk::abi::dtype::code::UINT);
    /// ```
    pub const UINT: u8 = 1;
    /// IEEE float (`kDLFloat`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::DType::F16.code, ferrite_sdk::abi::dtype::code::FLOAT);
    /// ```
    pub const FLOAT: u8 = 2;
    /// bfloat16 (`kDLBfloat`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::DType::BF16.code, ferrite_sdk::abi::dtype::code::BFLOAT);
    /// ```
    pub const BFLOAT: u8 = 4;
    /// Boolean stored in one byte (`kDLBool`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::DType::BOOL.code, ferrite_sdk::abi::dtype::code::BOOL);
    /// ```
    pub const BOOL: u8 = 6;
}

/// Element type of a tensor, laid out exactly as DLPack's `DLDataType` (4 bytes).
///
/// Only `lanes == 1` is used by Ferrite. The eight supported types are the associated
/// constants ([`DType::F32`], ...).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::DType;
/// assert_eq!(DType::parse("bf16"), Some(DType::BF16));
/// assert_eq!(DType::parse("float32"), Some(DType::F32));
/// assert_eq!(DType::parse("complex64"), None);
/// assert_eq!(DType::F16.size(), 2);
/// assert!(DType::BF16.is_float() && !DType::I64.is_float());
/// assert_eq!(DType::I64.name(), "int64");
/// assert_eq!(DType::BOOL.to_string(), "bool");
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DType {
    /// DLPack type code, see [`code`].
    pub code: u8,
    /// Bits per element.
    pub bits: u8,
    /// Vector lanes; always 1.
    pub lanes: u16,
}

impl DType {
    /// 32-bit IEEE float.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::F32.size(), DType::F32.name()), (4, "float32"));
    /// ```
    pub const F32: DType = DType { code: code::FLOAT, bits: 32, lanes: 1 };
    /// 64-bit IEEE float.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::F64.size(), DType::F64.name()), (8, "float64"));
    /// ```
    pub const F64: DType = DType { code: code::FLOAT, bits: 64, lanes: 1 };
    /// 16-bit IEEE float (half).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::F16.size(), DType::F16.name()), (2, "float16"));
    /// ```
    pub const F16: DType = DType { code: code::FLOAT, bits: 16, lanes: 1 };
    /// bfloat16 (8-bit exponent, 7-bit mantissa).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::BF16.size(), DType::BF16.name()), (2, "bfloat16"));
    /// ```
    pub const BF16: DType = DType { code: code::BFLOAT, bits: 16, lanes: 1 };
    /// 64-bit signed integer (indices, class targets).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::I64.size(), DType::I64.is_float()), (8, false));
    /// ```
    pub const I64: DType = DType { code: code::INT, bits: 64, lanes: 1 };
    /// 32-bit signed integer.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::I32.size(), DType::I32.short()), (4, "i32"));
    /// ```
    pub const I32: DType = DType { code: code::INT, bits: 32, lanes: 1 };
    /// 8-bit unsigned integer.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::U8.size(), DType::U8.name()), (1, "uint8"));
    /// ```
    pub const U8: DType = DType { code: code::UINT, bits: 8, lanes: 1 };
    /// Boolean, one byte per element (0 or 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!((DType::BOOL.size(), DType::BOOL.name()), (1, "bool"));
    /// ```
    pub const BOOL: DType = DType { code: code::BOOL, bits: 8, lanes: 1 };

    /// Every dtype Ferrite supports, in a fixed order.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert!(DType::ALL.iter().all(|d| DType::parse(d.short()) == Some(*d)));
    /// ```
    pub const ALL: [DType; 8] =
        [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8, DType::BOOL];

    /// Size of one element in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!([DType::F64, DType::BF16, DType::BOOL].map(DType::size), [8, 2, 1]);
    /// ```
    pub const fn size(self) -> usize {
        (self.bits as usize * self.lanes as usize).div_ceil(8)
    }

    /// True for f16, bf16, f32 and f64.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// let floats: Vec<DType> = DType::ALL.into_iter().filter(|d| d.is_float()).collect();
    /// assert_eq!(floats, vec![DType::F32, DType::F64, DType::F16, DType::BF16]);
    /// ```
    pub const fn is_float(self) -> bool {
        self.code == code::FLOAT || self.code == code::BFLOAT
    }

    /// The name PyTorch uses (`float32`, `bfloat16`, `int64`, `bool`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!(DType::ALL.map(DType::name), ["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"]);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::BOOL => "bool",
            _ => "unknown",
        }
    }

    /// Short name used in listings and safetensors (`F32`, `BF16`, `I64`, `BOOL`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!(DType::ALL.map(DType::short), ["f32", "f64", "f16", "bf16", "i64", "i32", "u8", "bool"]);
    /// assert_eq!(format!("{} {:?}", DType::BF16, DType::I64), "bf16 i64"); // Display and Debug use it too
    /// ```
    pub fn short(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::BOOL => "bool",
            _ => "?",
        }
    }

    /// Parses a short or PyTorch name (`f32`, `float32`, `bf16`, ...); `None` if unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::DType;
    /// assert_eq!(DType::parse("i32"), Some(DType::I32));
    /// assert_eq!(DType::parse("int32"), Some(DType::I32));
    /// ```
    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.short() == s || d.name() == s)
    }
}

impl fmt::Debug for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// DLPack device type codes (`DLDeviceType`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::dtype::device_type, Device};
/// assert_eq!(Device::CPU.device_type, device_type::CPU);
/// assert_eq!(Device { device_type: device_type::CUDA, device_id: 0 }.name(), "cuda:0");
/// ```
pub mod device_type {
    /// Host memory (`kDLCPU`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ferrite_sdk::Device::CPU.device_type, ferrite_sdk::abi::dtype::device_type::CPU);
    /// ```
    pub const CPU: i32 = 1;
    /// CUDA device memory (`kDLCUDA`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::dtype::device_type, Device};
    /// assert_eq!(Device { device_type: device_type::CUDA, device_id: 3 }.name(), "cuda:3");
    /// ```
    pub const CUDA: i32 = 2;
}

/// Where a tensor's memory lives, laid out as DLPack's `DLDevice` (8 bytes).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::dtype::device_type, Device};
/// assert_eq!(Device::CPU.name(), "cpu");
/// assert_eq!(Device { device_type: device_type::CUDA, device_id: 1 }.name(), "cuda:1");
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Device {
    /// One of [`device_type`].
    pub device_type: i32,
    /// Ordinal of the device of that type.
    pub device_id: i32,
}

impl Device {
    /// The host CPU.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::Device;
    /// assert_eq!((Device::CPU.device_id, Device::CPU.name()), (0, "cpu".to_string()));
    /// ```
    pub const CPU: Device = Device { device_type: device_type::CPU, device_id: 0 };

    /// `cpu` or `cuda:N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::Device;
    /// assert_eq!(Device { device_type: 7, device_id: 2 }.name(), "device7:2"); // other DLPack types
    /// ```
    pub fn name(self) -> String {
        match self.device_type {
            device_type::CPU => "cpu".to_string(),
            device_type::CUDA => format!("cuda:{}", self.device_id),
            t => format!("device{t}:{}", self.device_id),
        }
    }
}

/// Name of a device type (`cpu`, `cuda`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::dtype::{device_type, device_type_name};
/// assert_eq!(device_type_name(device_type::CPU), "cpu");
/// ```
pub fn device_type_name(t: i32) -> &'static str {
    match t {
        device_type::CPU => "cpu",
        device_type::CUDA => "cuda",
        _ => "unknown",
    }
}
