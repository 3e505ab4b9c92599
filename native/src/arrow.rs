//! Columns handed to DuckDB as one Arrow record batch through the Arrow C stream interface
//! (a PyCapsule named `arrow_array_stream`, which DuckDB scans without pyarrow): rows built
//! natively reach a table without being written out and parsed again.
//!
//! Only what the analytics parts need: nullable strings (`large_utf8`), 64-bit integers and
//! floats, UTC microsecond timestamps and dates.

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

#[derive(Clone, Copy)]
pub enum Kind {
    Text,
    Int,
    Float,
    /// Microseconds since the epoch, UTC.
    Time,
    /// Days since the epoch.
    Date,
}

impl Kind {
    fn format(self) -> &'static str {
        match self {
            Kind::Text => "U",
            Kind::Int => "l",
            Kind::Float => "g",
            Kind::Time => "tsu:UTC",
            Kind::Date => "tdD",
        }
    }
}

/// One column: its values (floats as their bits), or its strings' offsets and bytes.
pub struct Column {
    name: &'static str,
    kind: Kind,
    valid: Vec<bool>,
    words: Vec<i64>,
    text: Vec<u8>,
}

impl Column {
    pub fn new(name: &'static str, kind: Kind) -> Column {
        let words = if matches!(kind, Kind::Text) {
            vec![0]
        } else {
            vec![]
        };
        Column {
            name,
            kind,
            valid: Vec::new(),
            words,
            text: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.valid.len()
    }

    pub fn text(&mut self, value: Option<&str>) {
        self.valid.push(value.is_some());
        self.text.extend_from_slice(value.unwrap_or("").as_bytes());
        self.words.push(self.text.len() as i64);
    }

    pub fn int(&mut self, value: Option<i64>) {
        self.valid.push(value.is_some());
        self.words.push(value.unwrap_or(0));
    }

    pub fn float(&mut self, value: Option<f64>) {
        self.valid.push(value.is_some());
        self.words.push(value.unwrap_or(0.0).to_bits() as i64);
    }

    /// A row this column has nothing for.
    pub fn null(&mut self) {
        match self.kind {
            Kind::Text => self.text(None),
            _ => self.int(None),
        }
    }
}

// --- the C data interface (https://arrow.apache.org/docs/format/CDataInterface.html) -----

#[repr(C)]
pub struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

// Raw pointers into buffers this module owns until the consumer releases them.
unsafe impl Send for ArrowArrayStream {}

const NULLABLE: i64 = 2;

struct SchemaData {
    _format: CString,
    _name: CString,
    children: Vec<*mut ArrowSchema>,
}

fn schema(format: &str, name: &str, children: Vec<ArrowSchema>) -> ArrowSchema {
    let format = CString::new(format).expect("no NUL");
    let name = CString::new(name).expect("no NUL");
    let mut data = Box::new(SchemaData {
        children: children
            .into_iter()
            .map(|c| Box::into_raw(Box::new(c)))
            .collect(),
        _format: format,
        _name: name,
    });
    ArrowSchema {
        format: data._format.as_ptr(),
        name: data._name.as_ptr(),
        metadata: ptr::null(),
        flags: NULLABLE,
        n_children: data.children.len() as i64,
        children: data.children.as_mut_ptr(),
        dictionary: ptr::null_mut(),
        release: Some(release_schema),
        private_data: Box::into_raw(data) as *mut c_void,
    }
}

unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    let schema = &mut *schema;
    let data = Box::from_raw(schema.private_data as *mut SchemaData);
    for child in data.children {
        let mut child = Box::from_raw(child);
        if let Some(release) = child.release {
            release(&mut *child);
        }
    }
    schema.release = None;
}

/// The buffers an array points into, kept until it is released.
struct ArrayData {
    _owned: Vec<Vec<u8>>,
    _words: Vec<i64>,
    _days: Vec<i32>,
    buffers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
}

fn bitmap(valid: &[bool]) -> (Vec<u8>, i64) {
    let mut bits = vec![0u8; valid.len().div_ceil(8)];
    let mut nulls = 0;
    for (i, v) in valid.iter().enumerate() {
        if *v {
            bits[i / 8] |= 1 << (i % 8);
        } else {
            nulls += 1;
        }
    }
    (bits, nulls)
}

fn array(length: usize, null_count: i64, mut data: Box<ArrayData>) -> ArrowArray {
    ArrowArray {
        length: length as i64,
        null_count,
        offset: 0,
        n_buffers: data.buffers.len() as i64,
        n_children: data.children.len() as i64,
        buffers: data.buffers.as_mut_ptr(),
        children: data.children.as_mut_ptr(),
        dictionary: ptr::null_mut(),
        release: Some(release_array),
        private_data: Box::into_raw(data) as *mut c_void,
    }
}

unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    let array = &mut *array;
    let data = Box::from_raw(array.private_data as *mut ArrayData);
    for child in data.children {
        let mut child = Box::from_raw(child);
        if let Some(release) = child.release {
            release(&mut *child);
        }
    }
    array.release = None;
}

fn column_array(column: Column) -> ArrowArray {
    let length = column.valid.len();
    let (bits, nulls) = bitmap(&column.valid);
    let mut data = Box::new(ArrayData {
        _owned: vec![bits],
        _words: Vec::new(),
        _days: Vec::new(),
        buffers: Vec::new(),
        children: Vec::new(),
    });
    data.buffers.push(data._owned[0].as_ptr() as *const c_void);
    match column.kind {
        Kind::Date => {
            data._days = column.words.iter().map(|d| *d as i32).collect();
            data.buffers.push(data._days.as_ptr() as *const c_void);
        }
        _ => {
            data._words = column.words;
            data.buffers.push(data._words.as_ptr() as *const c_void);
        }
    }
    if matches!(column.kind, Kind::Text) {
        data._owned.push(column.text);
        data.buffers.push(data._owned[1].as_ptr() as *const c_void);
    }
    array(length, nulls, data)
}

struct StreamData {
    schema: Vec<(&'static str, Kind)>,
    batch: Option<ArrowArray>,
}

unsafe extern "C" fn stream_schema(stream: *mut ArrowArrayStream, out: *mut ArrowSchema) -> c_int {
    let data = &*((*stream).private_data as *const StreamData);
    let children = data
        .schema
        .iter()
        .map(|(name, kind)| schema(kind.format(), name, Vec::new()))
        .collect();
    ptr::write(out, schema("+s", "", children));
    0
}

unsafe extern "C" fn stream_next(stream: *mut ArrowArrayStream, out: *mut ArrowArray) -> c_int {
    let data = &mut *((*stream).private_data as *mut StreamData);
    match data.batch.take() {
        Some(batch) => ptr::write(out, batch),
        None => {
            // the end of the stream: a released array
            ptr::write(out, array(0, 0, Box::new(empty())));
            if let Some(release) = (*out).release {
                release(out);
            }
        }
    }
    0
}

fn empty() -> ArrayData {
    ArrayData {
        _owned: Vec::new(),
        _words: Vec::new(),
        _days: Vec::new(),
        buffers: Vec::new(),
        children: Vec::new(),
    }
}

unsafe extern "C" fn stream_error(_: *mut ArrowArrayStream) -> *const c_char {
    ptr::null()
}

unsafe extern "C" fn release_stream(stream: *mut ArrowArrayStream) {
    let stream = &mut *stream;
    let mut data = Box::from_raw(stream.private_data as *mut StreamData);
    if let Some(mut batch) = data.batch.take() {
        if let Some(release) = batch.release {
            release(&mut batch);
        }
    }
    stream.release = None;
}

/// The columns (all of one length) as one record batch in a stream.
pub fn stream(columns: Vec<Column>) -> ArrowArrayStream {
    let length = columns.first().map_or(0, Column::len);
    let schema = columns.iter().map(|c| (c.name, c.kind)).collect();
    let children: Vec<*mut ArrowArray> = columns
        .into_iter()
        .map(|c| Box::into_raw(Box::new(column_array(c))))
        .collect();
    let mut data = Box::new(empty());
    data.buffers.push(ptr::null()); // a struct's validity: none null
    data.children = children;
    let batch = array(length, 0, data);
    ArrowArrayStream {
        get_schema: Some(stream_schema),
        get_next: Some(stream_next),
        get_last_error: Some(stream_error),
        release: Some(release_stream),
        private_data: Box::into_raw(Box::new(StreamData {
            schema,
            batch: Some(batch),
        })) as *mut c_void,
    }
}

/// The stream as the PyCapsule of the Arrow PyCapsule interface (`__arrow_c_stream__`);
/// released with the capsule unless a consumer took it.
pub fn capsule(py: Python<'_>, stream: ArrowArrayStream) -> PyResult<Bound<'_, PyCapsule>> {
    let name = CString::new("arrow_array_stream").expect("no NUL");
    PyCapsule::new_with_destructor(py, stream, Some(name), |mut stream, _| {
        if let Some(release) = stream.release {
            unsafe { release(&mut stream) };
        }
    })
}
